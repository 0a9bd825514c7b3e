// /accounts: disconnect, after a confirmation shown in the page.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".account").forEach((card) => {
    const id = card.dataset.accountId;
    const ask = card.querySelector(".js-disconnect");
    const confirm = card.querySelector(".confirm");
    const yes = card.querySelector(".js-disconnect-yes");
    const no = card.querySelector(".js-disconnect-no");
    const error = card.querySelector(".js-error");
    // Offered to admins and owners only.
    if (!ask) return;
    ask.addEventListener("click", () => {
      confirm.hidden = false;
      ask.setAttribute("aria-expanded", "true");
      no.focus();
    });
    no.addEventListener("click", () => {
      confirm.hidden = true;
      ask.setAttribute("aria-expanded", "false");
      window.MKT.showError(error, "");
      ask.focus();
    });
    window.MKT.onClickCall(yes, error,
      () => window.MKT.api("DELETE", "/api/accounts/" + encodeURIComponent(id)),
      () => {
        card.remove();
        if (!document.querySelector(".account")) window.location.assign("/accounts");
      });
  });
});
