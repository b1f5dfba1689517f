//! A document holds only the fields its kind defines, and no string in it is
//! longer than [`MAX_TEXT`]: the document is compared with its own content
//! written afresh, so a key that no fieldsync document has (which reading
//! into the business type would silently skip) is refused, by name.

use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, Value};

use super::Verdict;
use super::limits::MAX_TEXT;
use crate::content::Content;

/// Checks that `doc`, whose content is `content`, holds nothing else.
pub(crate) fn only_defined_fields(doc: &AutoCommit, content: &Content) -> Verdict {
    let mut fresh = AutoCommit::new();
    content
        .reconcile_into(&mut fresh)
        .map_err(|e| format!("the document could not be checked ({e})"))?;
    let mut path = Vec::new();
    same_shape(doc, &ROOT, &fresh, &ROOT, &mut path)
}

fn at(path: &[String]) -> String {
    if path.is_empty() {
        "the document's top level".into()
    } else {
        path.join("/")
    }
}

fn same_shape(
    doc: &AutoCommit,
    obj: &ObjId,
    fresh: &AutoCommit,
    fresh_obj: &ObjId,
    path: &mut Vec<String>,
) -> Verdict {
    match doc.object_type(obj) {
        Ok(ObjType::Map) | Ok(ObjType::Table) => {
            for item in doc.map_range(obj, ..) {
                let key = item.key.to_string();
                let Ok(Some((theirs, their_id))) = fresh.get(fresh_obj, key.as_str()) else {
                    return Err(format!(
                        "{} has a field '{}' that no {} document has",
                        at(path),
                        truncate(&key),
                        kind_of(fresh)
                    ));
                };
                path.push(truncate(&key));
                let mine = match &item.value {
                    automerge::ValueRef::Object(t) => Slot::Object(*t),
                    automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(t)) => {
                        Slot::Bytes(t.len())
                    }
                    automerge::ValueRef::Scalar(automerge::ScalarValueRef::Bytes(b)) => {
                        Slot::Bytes(b.len())
                    }
                    automerge::ValueRef::Scalar(_) => Slot::Other,
                };
                value(doc, mine, item.id(), fresh, theirs, their_id, path)?;
                path.pop();
            }
            Ok(())
        }
        Ok(ObjType::List) => {
            let (mine, theirs) = (doc.length(obj), fresh.length(fresh_obj));
            if mine != theirs {
                return Err(format!(
                    "{} has {mine} entries where its content has {theirs}",
                    at(path)
                ));
            }
            for i in 0..mine {
                let (Ok(Some((v, id))), Ok(Some((fv, fid)))) =
                    (doc.get(obj, i), fresh.get(fresh_obj, i))
                else {
                    return Err(format!("{} could not be read", at(path)));
                };
                path.push(i.to_string());
                let mine = match &v {
                    Value::Object(t) => Slot::Object(*t),
                    Value::Scalar(s) => match s.as_ref() {
                        automerge::ScalarValue::Str(t) => Slot::Bytes(t.len()),
                        automerge::ScalarValue::Bytes(b) => Slot::Bytes(b.len()),
                        _ => Slot::Other,
                    },
                };
                value(doc, mine, id, fresh, fv, fid, path)?;
                path.pop();
            }
            Ok(())
        }
        Ok(ObjType::Text) => {
            let len = doc.text(obj).map(|t| t.len()).unwrap_or(0);
            long_text(path, len)
        }
        Err(e) => Err(format!("{} could not be read ({e})", at(path))),
    }
}

/// What a value in the document is, as far as the check cares.
enum Slot {
    Object(ObjType),
    /// A string or bytes of this many bytes.
    Bytes(usize),
    Other,
}

fn value(
    doc: &AutoCommit,
    mine: Slot,
    my_id: ObjId,
    fresh: &AutoCommit,
    theirs: Value<'_>,
    their_id: ObjId,
    path: &mut Vec<String>,
) -> Verdict {
    match (mine, theirs) {
        (Slot::Object(ObjType::Text), _) => {
            let len = doc.text(&my_id).map(|t| t.len()).unwrap_or(0);
            long_text(path, len)
        }
        (Slot::Object(_), Value::Object(_)) => same_shape(doc, &my_id, fresh, &their_id, path),
        (Slot::Object(_), Value::Scalar(_)) => Err(format!(
            "{} holds an object where a value belongs",
            at(path)
        )),
        (Slot::Bytes(len), _) => long_text(path, len),
        (Slot::Other, _) => Ok(()),
    }
}

fn long_text(path: &[String], len: usize) -> Verdict {
    if len > MAX_TEXT {
        return Err(format!(
            "{} is {len} bytes long; no text in a document may be longer than {MAX_TEXT}",
            at(path)
        ));
    }
    Ok(())
}

fn kind_of(fresh: &AutoCommit) -> String {
    let kind = fresh
        .get(ROOT, "meta")
        .ok()
        .flatten()
        .and_then(|(_, meta)| fresh.get(meta, "kind").ok().flatten())
        .map(|(v, _)| match v {
            Value::Scalar(s) => s.to_string().trim_matches('"').to_string(),
            Value::Object(_) => String::new(),
        })
        .unwrap_or_default();
    kind.replace('_', " ")
}

fn truncate(key: &str) -> String {
    if key.len() <= 40 {
        return key.to_string();
    }
    let mut end = 40;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &key[..end])
}
