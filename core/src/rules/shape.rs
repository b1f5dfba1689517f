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
            // Both iterate in key order: walk them side by side.
            let mut theirs = fresh.map_range(fresh_obj, ..).peekable();
            for item in doc.map_range(obj, ..) {
                let key: &str = &item.key;
                while theirs.peek().is_some_and(|t| &*t.key < key) {
                    theirs.next();
                }
                let Some(t) = theirs.next_if(|t| &*t.key == key) else {
                    return Err(format!(
                        "{} has a field '{}' that no {} document has",
                        at(path),
                        truncate(key),
                        kind_of(fresh)
                    ));
                };
                let mine = slot(&item.value);
                if let Slot::Object(_) = mine {
                    path.push(truncate(key));
                    value(doc, mine, item.id(), fresh, &t.value, t.id(), path)?;
                    path.pop();
                } else if let Slot::Bytes(len) = mine {
                    long_text_at(path, key, len)?;
                }
                if item.conflict {
                    path.push(truncate(key));
                    conflicting(doc, obj, key.into(), fresh, &t.value, t.id(), path)?;
                    path.pop();
                }
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
            for (item, t) in doc.list_range(obj, ..).zip(fresh.list_range(fresh_obj, ..)) {
                path.push(item.index.to_string());
                value(
                    doc,
                    slot(&item.value),
                    item.id(),
                    fresh,
                    &t.value,
                    t.id(),
                    path,
                )?;
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

/// Every value of a key that concurrent writes left in conflict (the ones
/// reading skips, but every copy keeps) is checked like the winning one.
fn conflicting(
    doc: &AutoCommit,
    obj: &ObjId,
    prop: automerge::Prop,
    fresh: &AutoCommit,
    theirs: &automerge::ValueRef<'_>,
    their_id: ObjId,
    path: &mut Vec<String>,
) -> Verdict {
    let all = doc
        .get_all(obj, prop)
        .map_err(|e| format!("{} could not be read ({e})", at(path)))?;
    for (v, id) in all {
        let mine = match &v {
            Value::Object(t) => Slot::Object(*t),
            Value::Scalar(s) => match s.as_ref() {
                automerge::ScalarValue::Str(t) => Slot::Bytes(t.len()),
                automerge::ScalarValue::Bytes(b) => Slot::Bytes(b.len()),
                _ => Slot::Other,
            },
        };
        value(doc, mine, id, fresh, theirs, their_id.clone(), path)?;
    }
    Ok(())
}

/// What a value in the document is, as far as the check cares.
enum Slot {
    Object(ObjType),
    /// A string or bytes of this many bytes.
    Bytes(usize),
    Other,
}

fn slot(v: &automerge::ValueRef<'_>) -> Slot {
    match v {
        automerge::ValueRef::Object(t) => Slot::Object(*t),
        automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(t)) => Slot::Bytes(t.len()),
        automerge::ValueRef::Scalar(automerge::ScalarValueRef::Bytes(b)) => Slot::Bytes(b.len()),
        automerge::ValueRef::Scalar(_) => Slot::Other,
    }
}

fn value(
    doc: &AutoCommit,
    mine: Slot,
    my_id: ObjId,
    fresh: &AutoCommit,
    theirs: &automerge::ValueRef<'_>,
    their_id: ObjId,
    path: &mut Vec<String>,
) -> Verdict {
    match (mine, theirs) {
        (Slot::Object(ObjType::Text), _) => {
            let len = doc.text(&my_id).map(|t| t.len()).unwrap_or(0);
            long_text(path, len)
        }
        (Slot::Object(_), automerge::ValueRef::Object(_)) => {
            same_shape(doc, &my_id, fresh, &their_id, path)
        }
        (Slot::Object(_), automerge::ValueRef::Scalar(_)) => Err(format!(
            "{} holds an object where a value belongs",
            at(path)
        )),
        (Slot::Bytes(len), _) => long_text(path, len),
        (Slot::Other, _) => Ok(()),
    }
}

/// [`long_text`] for the field `key` under `path`, naming it only if needed.
fn long_text_at(path: &mut Vec<String>, key: &str, len: usize) -> Verdict {
    if len <= MAX_TEXT {
        return Ok(());
    }
    path.push(truncate(key));
    let verdict = long_text(path, len);
    path.pop();
    verdict
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

#[cfg(test)]
mod cost {
    use super::*;
    use crate::testing::*;

    #[test]
    #[ignore = "a measurement, run by hand in release"]
    fn what_a_decision_costs() {
        let c = customer("1000", crate::PaymentTerms::Credit)
            .read()
            .unwrap();
        let (mut o, _) = draft_order(&c);
        o.add_line(&sales(), line("A", "1", "2")).unwrap();
        o.add_line(&sales(), line("B", "1", "2")).unwrap();
        o.submit(&sales()).unwrap();
        let bytes = o.document().save();
        let key = crate::signing::DeviceKey::generate().unwrap();
        let n = 2000;
        let time = |what: &str, f: &mut dyn FnMut()| {
            let t = std::time::Instant::now();
            for _ in 0..n {
                f();
            }
            eprintln!(
                "{what}: {:.1} µs",
                t.elapsed().as_secs_f64() * 1e6 / n as f64
            );
        };
        let doc = crate::Document::load(&bytes).unwrap();
        let content = doc.content().unwrap();
        time("load", &mut || drop(crate::Document::load(&bytes).unwrap()));
        time("content", &mut || drop(doc.content().unwrap()));
        time("shape", &mut || {
            only_defined_fields(doc.automerge_ref(), &content).unwrap()
        });
        let mut fresh = AutoCommit::new();
        time("reconcile fresh", &mut || {
            fresh = AutoCommit::new();
            content.reconcile_into(&mut fresh).unwrap();
        });
        let mut d2 = crate::Document::load(&bytes).unwrap();
        let changes = d2.changes_after(&[]);
        eprintln!("{} changes", changes.len());
        let sigs: Vec<_> = changes.iter().map(|(h, _)| key.sign(h)).collect();
        let public = key.public();
        time("verify each", &mut || {
            for s in &sigs {
                assert!(public.verifies(s));
            }
        });
        let refs: Vec<_> = sigs.iter().collect();
        time("verify together", &mut || {
            assert!(public.verifies_all(&refs))
        });
        time("changes_after", &mut || drop(d2.changes_after(&[])));
        time("save_after", &mut || drop(d2.save_after(&[])));
        use crate::sync::Policy;
        time("policy new", &mut || {
            crate::rules::RolePolicy
                .check(&sales().actor, None, &content)
                .unwrap()
        });
    }
}
