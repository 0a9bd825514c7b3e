//! Injected failures: a 5xx, a dropped connection (before or after the sandbox commits the
//! request), or a slow answer, on the Nth matching call of an endpoint or on the Nth chunk of
//! an upload. Used to test retries and reconciliation in the publish worker.

use serde::{Deserialize, Serialize};

/// What to inject and where. JSON: `{"endpoint":"upload","chunk":2,"kind":"drop_after_commit"}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultSpec {
    /// Endpoint name as in the call log (`oauth.token`, `video.init`, `upload`, …) or `*`.
    pub endpoint: String,
    /// Trigger on the Nth matching call counted from injection (1-based).
    #[serde(default = "one")]
    pub nth: u32,
    /// How many consecutive matching calls trigger, starting at `nth`.
    #[serde(default = "one")]
    pub times: u32,
    /// Uploads only: match only PUTs of this chunk (1-based index in the plan).
    #[serde(default)]
    pub chunk: Option<u64>,
    /// Match only calls made for this creator.
    #[serde(default)]
    pub open_id: Option<String>,
    #[serde(flatten)]
    pub action: FaultAction,
}

fn one() -> u32 {
    1
}

/// The failure itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this status (and the endpoint's error shape) without handling the request.
    Status { status: u16 },
    /// Close the connection without handling the request or answering.
    Drop,
    /// Handle the request (state changes stick), then close the connection without answering:
    /// the client cannot tell whether it worked.
    DropAfterCommit,
    /// Wait this long before handling the request.
    Slow { ms: u64 },
}

impl FaultSpec {
    /// A fault on the `nth` call of `endpoint`.
    pub fn new(endpoint: impl Into<String>, nth: u32, action: FaultAction) -> Self {
        Self {
            endpoint: endpoint.into(),
            nth,
            times: 1,
            chunk: None,
            open_id: None,
            action,
        }
    }

    /// A fault on chunk `chunk` (1-based) of any upload.
    pub fn on_chunk(chunk: u64, action: FaultAction) -> Self {
        Self {
            chunk: Some(chunk),
            ..Self::new("upload", 1, action)
        }
    }
}

/// A fault plus how many matching calls it has seen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fault {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    pub seen: u32,
    pub fired: u32,
}

/// What a call is, for matching.
pub(crate) struct CallSite<'a> {
    pub endpoint: &'a str,
    pub chunk: Option<u64>,
    pub open_id: Option<&'a str>,
}

impl Fault {
    /// Counts the call if it matches and says whether this one must fail.
    pub(crate) fn hit(&mut self, call: &CallSite<'_>) -> Option<FaultAction> {
        if self.spec.endpoint != "*" && self.spec.endpoint != call.endpoint {
            return None;
        }
        if self.spec.chunk.is_some() && self.spec.chunk != call.chunk {
            return None;
        }
        if let Some(want) = &self.spec.open_id
            && call.open_id != Some(want.as_str())
        {
            return None;
        }
        self.seen += 1;
        let first = self.spec.nth.max(1);
        if self.seen >= first && self.seen < first.saturating_add(self.spec.times) {
            self.fired += 1;
            Some(self.spec.action.clone())
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_on_nth_matching_call_for_times_calls() {
        let mut f = Fault {
            id: 1,
            spec: FaultSpec {
                times: 2,
                ..FaultSpec::new("video.init", 2, FaultAction::Drop)
            },
            seen: 0,
            fired: 0,
        };
        let call = CallSite {
            endpoint: "video.init",
            chunk: None,
            open_id: None,
        };
        let other = CallSite {
            endpoint: "status.fetch",
            chunk: None,
            open_id: None,
        };
        assert_eq!(f.hit(&other), None);
        assert_eq!(f.hit(&call), None);
        assert_eq!(f.hit(&call), Some(FaultAction::Drop));
        assert_eq!(f.hit(&call), Some(FaultAction::Drop));
        assert_eq!(f.hit(&call), None);
    }

    #[test]
    fn spec_json_is_flat() {
        let spec: FaultSpec =
            serde_json::from_str(r#"{"endpoint":"upload","chunk":2,"kind":"status","status":503}"#)
                .unwrap();
        assert_eq!(
            spec,
            FaultSpec::on_chunk(2, FaultAction::Status { status: 503 })
        );
    }
}
