//! Firestore's typed values as the REST API spells them (`{"stringValue": "…"}`,
//! `{"integerValue": "8"}`, `{"timestampValue": "…Z"}`, `{"nullValue": null}`), the documents
//! that carry them, and the writes of a commit.
//!
//! Only the four types the store writes are supported: strings (ids, states, and the JSON `doc`
//! like the SQL backends' column), 64-bit integers, timestamps and null. Reading goes through
//! `codec::Cells`, so entities are decoded by the same code as on SQLite and PostgreSQL.

use crate::store::StoreError;
use crate::store::codec::{Cells, bad_cell};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// A document's fields: name → typed value.
pub(crate) type Fields = Map<String, Value>;

/// Firestore keeps microseconds; every instant is written with exactly six digits.
const TS_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

pub(crate) fn string(s: &str) -> Value {
    json!({ "stringValue": s })
}

pub(crate) fn opt_string(s: Option<&str>) -> Value {
    s.map_or_else(null, string)
}

pub(crate) fn integer(i: i64) -> Value {
    // The REST API carries int64 as a decimal string (JSON numbers lose precision past 2^53).
    json!({ "integerValue": i.to_string() })
}

pub(crate) fn timestamp(t: DateTime<Utc>) -> Value {
    json!({ "timestampValue": t.format(TS_FORMAT).to_string() })
}

pub(crate) fn opt_timestamp(t: Option<DateTime<Utc>>) -> Value {
    t.map_or_else(null, timestamp)
}

pub(crate) fn null() -> Value {
    json!({ "nullValue": null })
}

/// A reference to a document, for filters on `__name__`.
pub(crate) fn reference(name: &str) -> Value {
    json!({ "referenceValue": name })
}

/// Any id newtype, as its canonical hyphenated text (lowercase: text order = id order).
pub(crate) fn id(u: Uuid) -> Value {
    string(&u.hyphenated().to_string())
}

pub(crate) fn opt_id(u: Option<Uuid>) -> Value {
    u.map_or_else(null, id)
}

/// A value serialised as JSON text, like the SQL backends' `doc` column.
pub(crate) fn json_text(v: &impl serde::Serialize) -> Result<Value, StoreError> {
    serde_json::to_string(v)
        .map(|s| string(&s))
        .map_err(|e| StoreError::Backend(format!("encoding a document: {e}")))
}

/// Builds a field map from `(name, value)` pairs.
pub(crate) fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Fields {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A stored document as read: its full name, fields and the update time that a later write
/// can name as its precondition (compare-and-set).
#[derive(Debug, Clone)]
pub(crate) struct Document {
    pub name: String,
    pub fields: Fields,
    pub update_time: String,
}

impl Document {
    /// Parses the REST `Document` object.
    pub fn from_json(v: Value) -> Result<Self, StoreError> {
        let Value::Object(mut o) = v else {
            return Err(StoreError::Backend("a document is not an object".into()));
        };
        let name = match o.remove("name") {
            Some(Value::String(s)) => s,
            _ => return Err(StoreError::Backend("a document has no name".into())),
        };
        let fields = match o.remove("fields") {
            Some(Value::Object(f)) => f,
            // A document with no fields (or a projection selecting only `__name__`).
            None => Map::new(),
            Some(_) => return Err(StoreError::Backend(format!("{name}: bad fields"))),
        };
        let update_time = match o.remove("updateTime") {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        Ok(Self {
            name,
            fields,
            update_time,
        })
    }
}

/// The typed value of `col`, or `None` when the field is absent or null.
fn typed<'a>(fields: &'a Fields, col: &str, kind: &str) -> Result<Option<&'a Value>, StoreError> {
    match fields.get(col) {
        None => Ok(None),
        Some(Value::Object(o)) if o.contains_key("nullValue") => Ok(None),
        Some(Value::Object(o)) => match o.get(kind) {
            Some(v) => Ok(Some(v)),
            None => Err(bad_cell(col, format!("expected {kind}, found {o:?}"))),
        },
        Some(other) => Err(bad_cell(col, format!("not a typed value: {other}"))),
    }
}

fn opt_str<'a>(fields: &'a Fields, col: &str, kind: &str) -> Result<Option<&'a str>, StoreError> {
    match typed(fields, col, kind)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(bad_cell(col, format!("expected a string, found {other}"))),
    }
}

fn required<T>(col: &str, v: Option<T>) -> Result<T, StoreError> {
    v.ok_or_else(|| bad_cell(col, "missing"))
}

fn parse_ts(col: &str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| bad_cell(col, e))
}

fn parse_uuid(col: &str, s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(|e| bad_cell(col, e))
}

/// Lets `codec` build entities from Firestore fields exactly as from SQL rows.
impl Cells for Fields {
    fn uuid(&self, col: &str) -> Result<Uuid, StoreError> {
        parse_uuid(col, required(col, opt_str(self, col, "stringValue")?)?)
    }
    fn opt_uuid(&self, col: &str) -> Result<Option<Uuid>, StoreError> {
        opt_str(self, col, "stringValue")?
            .map(|s| parse_uuid(col, s))
            .transpose()
    }
    fn text(&self, col: &str) -> Result<String, StoreError> {
        required(col, self.opt_text(col)?)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        Ok(opt_str(self, col, "stringValue")?.map(str::to_owned))
    }
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        let s = required(col, opt_str(self, col, "integerValue")?)?;
        s.parse().map_err(|e| bad_cell(col, e))
    }
    fn ts(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        required(col, self.opt_ts(col)?)
    }
    fn opt_ts(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        opt_str(self, col, "timestampValue")?
            .map(|s| parse_ts(col, s))
            .transpose()
    }
    fn json(&self, col: &str) -> Result<Value, StoreError> {
        serde_json::from_str(&self.text(col)?).map_err(|e| bad_cell(col, e))
    }
}

/// What a write requires of the stored document, checked atomically with the whole commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// `false`: create only; `true`: update only.
    Exists(bool),
    /// Unchanged since it was read (compare-and-set).
    UpdateTime(String),
}

#[derive(Debug, Clone)]
enum Op {
    /// Replaces the whole document.
    Set(Fields),
    /// Replaces only the named fields.
    Patch(Fields, Vec<&'static str>),
    Delete,
}

/// One write of a commit.
#[derive(Debug, Clone)]
pub(crate) struct Write {
    pub name: String,
    op: Op,
    pub precondition: Option<Precondition>,
}

impl Write {
    pub fn set(name: String, fields: Fields) -> Self {
        Self {
            name,
            op: Op::Set(fields),
            precondition: None,
        }
    }

    pub fn patch(name: String, fields: Fields, mask: Vec<&'static str>) -> Self {
        Self {
            name,
            op: Op::Patch(fields, mask),
            precondition: None,
        }
    }

    pub fn delete(name: String) -> Self {
        Self {
            name,
            op: Op::Delete,
            precondition: None,
        }
    }

    /// Only if the document does not exist yet (create; `ALREADY_EXISTS` otherwise).
    pub fn if_absent(mut self) -> Self {
        self.precondition = Some(Precondition::Exists(false));
        self
    }

    /// Only if the document exists (`NOT_FOUND` otherwise).
    pub fn if_exists(mut self) -> Self {
        self.precondition = Some(Precondition::Exists(true));
        self
    }

    /// Only if the document is exactly as read (`FAILED_PRECONDITION` otherwise).
    pub fn if_unchanged(mut self, doc: &Document) -> Self {
        self.precondition = Some(Precondition::UpdateTime(doc.update_time.clone()));
        self
    }

    /// Only if the document is still as read: unchanged if it was there, absent if it was not.
    pub fn if_as_read(self, read: Option<&Document>) -> Self {
        match read {
            Some(doc) => self.if_unchanged(doc),
            None => self.if_absent(),
        }
    }

    /// The REST `Write` object.
    pub fn to_json(&self) -> Value {
        let mut w = match &self.op {
            Op::Set(fields) => json!({ "update": { "name": self.name, "fields": fields } }),
            Op::Patch(fields, mask) => json!({
                "update": { "name": self.name, "fields": fields },
                "updateMask": { "fieldPaths": mask },
            }),
            Op::Delete => json!({ "delete": self.name }),
        };
        match &self.precondition {
            None => {}
            Some(Precondition::Exists(e)) => w["currentDocument"] = json!({ "exists": e }),
            Some(Precondition::UpdateTime(t)) => w["currentDocument"] = json!({ "updateTime": t }),
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn values_read_back_as_written() {
        let t = Utc
            .with_ymd_and_hms(1991, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid instant");
        let u = Uuid::now_v7();
        let f = fields([
            ("s", string("x")),
            ("n", integer(-9_007_199_254_740_993)),
            ("t", timestamp(t)),
            ("z", null()),
            ("u", id(u)),
            ("j", json_text(&json!({ "a": [1, 2] })).expect("json")),
        ]);
        assert_eq!(f.text("s").expect("s"), "x");
        assert_eq!(f.int("n").expect("n"), -9_007_199_254_740_993);
        assert_eq!(f.ts("t").expect("t"), t);
        assert_eq!(f.opt_text("z").expect("z"), None);
        assert_eq!(f.opt_text("absent").expect("absent"), None);
        assert_eq!(f.uuid("u").expect("u"), u);
        assert_eq!(f.json("j").expect("j"), json!({ "a": [1, 2] }));
        assert!(f.text("z").is_err(), "null is not a string");
        assert!(f.int("s").is_err(), "a string is not an integer");
        // The emulator drops trailing zero digits; both spellings parse.
        let g = fields([("t", json!({ "timestampValue": "1991-01-01T00:00:00Z" }))]);
        assert_eq!(g.ts("t").expect("t"), t);
    }

    #[test]
    fn writes_carry_their_precondition() {
        let doc = Document {
            name: "n".into(),
            fields: Fields::new(),
            update_time: "2026-01-01T00:00:00.000001Z".into(),
        };
        let w = Write::delete("n".into()).if_unchanged(&doc).to_json();
        assert_eq!(
            w["currentDocument"]["updateTime"],
            "2026-01-01T00:00:00.000001Z"
        );
        let w = Write::set("n".into(), Fields::new()).if_absent().to_json();
        assert_eq!(w["currentDocument"]["exists"], false);
        let w = Write::patch("n".into(), Fields::new(), vec!["a"])
            .if_exists()
            .to_json();
        assert_eq!(w["updateMask"]["fieldPaths"][0], "a");
    }
}
