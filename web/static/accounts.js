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
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      const r = await window.MKT.api("DELETE", "/api/accounts/" + encodeURIComponent(id));
      if (r.ok) {
        card.remove();
        if (!document.querySelector(".account")) window.location.assign("/accounts");
        return;
      }
      yes.disabled = false;
      window.MKT.showError(error, r.error.message);
    });
  });
});
