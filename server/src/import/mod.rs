//! CSV imports (`admin import-customers`, `import-products`, `import-stock`,
//! `import-orders`): every row is checked first and nothing is imported
//! unless every row is good.
//!
//! Files are read the way spreadsheets write them: comma, semicolon or tab
//! separated (whichever the header uses), headers in any case, a UTF-8 byte
//! order mark or none. A file in another encoding, a missing column or a
//! column the import does not take is refused with what to do about it.

mod orders;

pub use orders::import_orders;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;

use fieldsync_core::{
    CatalogDoc, ChangeCtx, Contact, CustomerDoc, DocKind, Grade, NewCustomer, PaymentTerms,
    ProductInput, Role, StockFigures, money,
};
use rusqlite::OptionalExtension;
use rust_decimal::Decimal;

use crate::accounts;
use crate::admin::admin_actor;
use crate::app::{AppState, ServerRelay};
use crate::error::{Result, ServerError};

/// Problems found in a CSV file, one per bad row.
fn report_rows(errors: Vec<String>, what: &str) -> ServerError {
    let n = errors.len();
    let mut msg = format!("{n} row(s) of the {what} file have problems; nothing was imported:\n");
    for e in errors.iter().take(50) {
        msg.push_str("  ");
        msg.push_str(e);
        msg.push('\n');
    }
    if n > 50 {
        msg.push_str(&format!("  ... and {} more\n", n - 50));
    }
    ServerError::BadRequest(msg)
}

/// One data row of a CSV file: its line number and its cells by column, or
/// what is wrong with it.
type CsvRow = (usize, std::result::Result<BTreeMap<String, String>, String>);

/// A header cell as the import names columns: trimmed, lower case, spaces
/// and dashes as underscores ("Credit Limit" is `credit_limit`).
fn column_name(header: &str) -> String {
    header
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '-' { '_' } else { c })
        .collect()
}

/// The separator the header line uses: comma, semicolon or tab.
fn separator(text: &str) -> u8 {
    let header = text.lines().next().unwrap_or_default();
    let mut best = (b',', 0);
    for sep in [b',', b';', b'\t'] {
        let mut quoted = false;
        let count = header
            .bytes()
            .filter(|&b| {
                if b == b'"' {
                    quoted = !quoted;
                }
                !quoted && b == sep
            })
            .count();
        if count > best.1 {
            best = (sep, count);
        }
    }
    best.0
}

/// Reads a CSV file whose header has every column of `required` and no
/// column outside `required` and `optional`.
fn csv_rows(mut input: impl Read, required: &[&str], optional: &[&str]) -> Result<Vec<CsvRow>> {
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|e| ServerError::BadRequest(format!("cannot read the CSV file: {e}")))?;
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let text = std::str::from_utf8(body).map_err(|e| {
        let line = body[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
        ServerError::BadRequest(format!(
            "the file is not UTF-8 text (line {line} has a byte UTF-8 does not allow; spreadsheets write that for \"CSV\" in a Windows code page). Save it again as \"CSV UTF-8\" and import that file"
        ))
    })?;
    let mut r = csv::ReaderBuilder::new()
        .delimiter(separator(text))
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = r
        .headers()
        .map_err(|e| ServerError::BadRequest(format!("cannot read the CSV header: {e}")))?
        .iter()
        .map(column_name)
        .collect();
    let all = || {
        required
            .iter()
            .chain(optional)
            .copied()
            .collect::<Vec<_>>()
            .join(",")
    };
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !headers.iter().any(|h| h == c))
        .collect();
    if !missing.is_empty() {
        return Err(ServerError::BadRequest(format!(
            "the CSV header lacks column(s) {}; the columns are: {} (the last {} may be left out)",
            missing.join(", "),
            all(),
            optional.len()
        )));
    }
    let unknown: Vec<&str> = headers
        .iter()
        .map(String::as_str)
        .filter(|h| !required.contains(h) && !optional.contains(h))
        .collect();
    if let Some(stock) = unknown.iter().find(|h| {
        [
            "stock",
            "on_hand",
            "in_production",
            "reserved",
            "units_in_stock",
        ]
        .contains(h)
    }) {
        return Err(ServerError::BadRequest(format!(
            "the CSV has a stock column ({stock}): stock figures are the warehouse's and production's to publish, not part of the product list; remove the column (the columns are: {})",
            all()
        )));
    }
    if !unknown.is_empty() {
        return Err(ServerError::BadRequest(format!(
            "the CSV has column(s) this import does not take: {}; the columns are: {} (remove or rename the others, so nothing is dropped unnoticed)",
            unknown.join(", "),
            all()
        )));
    }
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let row = match rec {
            Err(e) => Err(format!("cannot read it ({e})")),
            Ok(rec) if rec.len() != headers.len() => Err(format!(
                "it has {} fields but the header has {} (write numbers without thousands separators: 5000, not 5,000)",
                rec.len(),
                headers.len()
            )),
            Ok(rec) => Ok(headers
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect()),
        };
        out.push((line, row));
    }
    Ok(out)
}

/// Each readable row of `rows` turned into a `T` by `parse`, with its line
/// number, and every problem (a row that could not be read, or what `parse`
/// found wrong) as "row N: …".
fn parse_rows<T, E: std::fmt::Display>(
    rows: &[CsvRow],
    mut parse: impl FnMut(&BTreeMap<String, String>) -> std::result::Result<T, E>,
) -> (Vec<(usize, T)>, Vec<String>) {
    let mut parsed = Vec::with_capacity(rows.len());
    let mut errors = Vec::new();
    for (line, row) in rows {
        match row
            .as_ref()
            .map_err(|e| e.to_string())
            .and_then(|r| parse(r).map_err(|e| e.to_string()))
        {
            Ok(t) => parsed.push((*line, t)),
            Err(e) => errors.push(format!("row {line}: {e}")),
        }
    }
    (parsed, errors)
}

/// A customer's name and address as compared for duplicates: trimmed,
/// case and inner spacing ignored.
fn same_customer(name: &str, address: &str) -> (String, String) {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    (norm(name), norm(address))
}

/// A yes/no cell (`yes`, `no`, `true`, `false`, `1`, `0`; empty is `no`).
fn yes_no(column: &str, value: &str) -> std::result::Result<bool, String> {
    match value.to_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Ok(true),
        "no" | "n" | "false" | "0" | "" => Ok(false),
        other => Err(format!("{column} must be yes or no, not '{other}'")),
    }
}

/// What an import did with the rows of its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Imported {
    /// Rows that made something new.
    pub created: usize,
    /// Rows that changed what was there under their key.
    pub updated: usize,
    /// Rows that said what was there already.
    pub unchanged: usize,
}

impl Imported {
    /// Every row of the file.
    pub fn rows(&self) -> usize {
        self.created + self.updated + self.unchanged
    }
}

impl std::fmt::Display for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} new, {} updated, {} unchanged",
            self.created, self.updated, self.unchanged
        )
    }
}

/// A customer already on the relay, as an import matches rows to it.
struct KnownCustomer {
    id: fieldsync_core::DocId,
    code: String,
    name: String,
    address: String,
}

/// The customers on the relay: by code, and by name and address.
fn known_customers(conn: &rusqlite::Connection) -> Result<Vec<KnownCustomer>> {
    let rows = conn
        .prepare("SELECT id, code, name, address FROM customers")?
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter()
        .map(|(id, code, name, address)| {
            Ok(KnownCustomer {
                id: id
                    .parse()
                    .map_err(|_| ServerError::Internal("a stored customer id is damaged".into()))?,
                code,
                name,
                address,
            })
        })
        .collect()
}

/// Customer `id` brought in line with `new`: nothing if it already is;
/// otherwise the customer and, if it now belongs to another salesperson or
/// region, its orders, visits and complaints too (see [`crate::reassign`]).
fn update_customer(
    relay: &mut ServerRelay,
    ctx: &ChangeCtx,
    id: fieldsync_core::DocId,
    new: &NewCustomer,
) -> Result<Vec<fieldsync_core::Document>> {
    let mut c = CustomerDoc::from_document(relay.load(id)?)?;
    let before = c.document().meta().clone();
    if !c.apply_master_data(ctx, new)? {
        return Ok(Vec::new());
    }
    let mut docs = vec![c.document().fork()];
    if before.owner != new.owner || before.region.as_deref() != Some(new.region.as_str()) {
        docs.extend(crate::reassign::follow_customer(
            relay,
            ctx,
            id,
            &new.owner,
            &new.region,
        )?);
    }
    Ok(docs)
}

/// Imports customers from CSV with columns
/// `code,name,address,region,owner,grade,payment_terms,credit_limit` and,
/// optionally, `phone,tax_number,contact_name,contact_phone,contact_title`.
///
/// The customer code is the key: a row whose code is there updates that
/// customer (its phones get the change), a new code makes a new customer,
/// and a row naming a customer without a code (a prospect from the field,
/// same name and address) gives it the code. Importing a file twice changes
/// nothing. The region is one of the company's regions, the owner a
/// salesperson of it.
pub fn import_customers(
    state: &AppState,
    input: impl Read,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Imported> {
    let rows = csv_rows(
        input,
        &[
            "code",
            "name",
            "address",
            "region",
            "owner",
            "grade",
            "payment_terms",
            "credit_limit",
        ],
        &[
            "phone",
            "tax_number",
            "contact_name",
            "contact_phone",
            "contact_title",
        ],
    )?;
    let actor = admin_actor()?;
    let ctx = ChangeCtx::now(actor.clone());
    let mut relay = state.relay();
    let (regions, salespeople, known) = {
        let conn = relay.store().connection();
        let salespeople: BTreeMap<String, Option<String>> = accounts::users(conn)?
            .into_iter()
            .filter(|u| u.role == Role::Salesperson.as_str())
            .map(|u| (u.id, u.region))
            .collect();
        (
            accounts::regions(conn)?,
            salespeople,
            known_customers(conn)?,
        )
    };
    let by_code: HashMap<&str, &KnownCustomer> = known
        .iter()
        .filter(|k| !k.code.is_empty())
        .map(|k| (k.code.as_str(), k))
        .collect();
    let by_place: HashMap<(String, String), &KnownCustomer> = known
        .iter()
        .map(|k| (same_customer(&k.name, &k.address), k))
        .collect();
    let mut codes_in_file = HashSet::new();
    let mut places_in_file = HashSet::new();
    let (parsed, errors) = parse_rows(
        &rows,
        |row| -> Result<(Option<fieldsync_core::DocId>, NewCustomer)> {
            let get = |k: &str| row.get(k).cloned().unwrap_or_default();
            let bad = |m: String| Err(ServerError::BadRequest(m));
            let code = get("code");
            if code.is_empty() {
                return bad("the customer code is empty; every customer needs head office's code (it is what a later import matches on)".into());
            }
            let grade = match get("grade").to_uppercase().as_str() {
                "A" => Grade::A,
                "B" => Grade::B,
                "C" | "" => Grade::C,
                g => return bad(format!("grade must be A, B or C, not '{g}'")),
            };
            let payment_terms = match get("payment_terms").to_lowercase().as_str() {
                "cash" | "" => PaymentTerms::Cash,
                "credit" => PaymentTerms::Credit,
                t => return bad(format!("payment_terms must be cash or credit, not '{t}'")),
            };
            let credit_limit = match get("credit_limit").as_str() {
                "" => Decimal::ZERO,
                s => money::parse_amount("credit limit", s)?,
            };
            let region = get("region");
            if !regions.contains(&region) {
                return bad(format!(
                    "region '{region}' is not one of the company's regions ({}); add it with admin add-region, or correct the file",
                    regions.join(", ")
                ));
            }
            let owner = get("owner");
            match salespeople.get(&owner) {
                None => {
                    return bad(format!(
                        "owner '{owner}' is not a salesperson; a customer belongs to a salesperson (see admin users)"
                    ));
                }
                Some(r) if r.as_deref() != Some(region.as_str()) => {
                    return bad(format!(
                        "owner '{owner}' works in region {}, not {region}; a customer's salesperson works in its region",
                        r.as_deref().unwrap_or("(none)")
                    ));
                }
                Some(_) => {}
            }
            if !codes_in_file.insert(code.clone()) {
                return bad(format!("customer code {code} is in this file twice"));
            }
            let place = same_customer(&get("name"), &get("address"));
            if !places_in_file.insert(place.clone()) {
                return bad(format!(
                    "customer '{}' at '{}' is in this file twice (under two codes)",
                    get("name"),
                    get("address")
                ));
            }
            let existing = match (by_code.get(code.as_str()), by_place.get(&place)) {
                (Some(k), _) => Some(k.id),
                (None, Some(k)) if k.code.is_empty() => Some(k.id),
                (None, Some(k)) => {
                    return bad(format!(
                        "customer '{}' at '{}' is already there under code {}; correct the code, or the name and address",
                        get("name"),
                        get("address"),
                        k.code
                    ));
                }
                (None, None) => None,
            };
            let contact_name = get("contact_name");
            let contact = (!contact_name.is_empty()).then(|| Contact {
                name: contact_name,
                phone: get("contact_phone"),
                title: get("contact_title"),
            });
            Ok((
                existing,
                NewCustomer {
                    code,
                    name: get("name"),
                    address: get("address"),
                    region,
                    owner,
                    grade,
                    payment_terms,
                    credit_limit,
                    phone: get("phone"),
                    tax_number: get("tax_number"),
                    contact,
                },
            ))
        },
    );
    if !errors.is_empty() {
        return Err(report_rows(errors, "customers"));
    }
    let mut imported = Imported::default();
    let mut docs = Vec::new();
    let mut problems = Vec::new();
    for (line, (existing, new)) in parsed {
        let made = match existing {
            None => CustomerDoc::create(&ctx, new)
                .map(|mut c| {
                    imported.created += 1;
                    vec![c.document().fork()]
                })
                .map_err(ServerError::from),
            Some(id) => update_customer(&mut relay, &ctx, id, &new).inspect(|docs| {
                if docs.is_empty() {
                    imported.unchanged += 1;
                } else {
                    imported.updated += 1;
                }
            }),
        };
        match made {
            Ok(made) => docs.extend(made),
            Err(e) => problems.push(format!("row {line}: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(report_rows(problems, "customers"));
    }
    let total = docs.len();
    for (i, chunk) in docs.chunks_mut(500).enumerate() {
        // Checked above, so a refusal here is not expected; each chunk is one
        // transaction and the whole import was validated before the first.
        relay.commit_edits(&actor, chunk)?;
        progress((i * 500 + chunk.len()).min(total), total);
    }
    Ok(imported)
}

pub(crate) fn catalog_id(relay: &mut ServerRelay) -> Result<Option<fieldsync_core::DocId>> {
    let id: Option<Vec<u8>> = relay
        .store()
        .connection()
        .query_row(
            "SELECT id FROM relay_documents WHERE kind = ?1 ORDER BY id LIMIT 1",
            [DocKind::Catalog.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    id.map(|b| {
        uuid_from(&b).ok_or_else(|| ServerError::Internal("a stored catalog id is damaged".into()))
    })
    .transpose()
}

fn uuid_from(b: &[u8]) -> Option<fieldsync_core::DocId> {
    let arr: [u8; 16] = b.try_into().ok()?;
    Some(fieldsync_core::DocId::from_bytes(arr))
}

/// The catalog, created if there is none yet.
fn catalog(relay: &mut ServerRelay, ctx: &ChangeCtx) -> Result<CatalogDoc> {
    match catalog_id(relay)? {
        Some(id) => Ok(CatalogDoc::from_document(relay.load(id)?)?),
        None => Ok(CatalogDoc::create(ctx)?),
    }
}

/// Imports products from CSV with columns `code,name,spec,unit,list_price`
/// and, optionally, `category` and `discontinued` (yes/no). The product
/// code is the key: a code already in the catalog updates that product
/// (keeping its stock), a new code adds one. Every row is checked first;
/// they go into the catalog as one change.
pub fn import_products(
    state: &AppState,
    input: impl Read,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Imported> {
    let rows = csv_rows(
        input,
        &["code", "name", "spec", "unit", "list_price"],
        &["category", "discontinued"],
    )?;
    let actor = admin_actor()?;
    let ctx = ChangeCtx::now(actor.clone());
    let mut relay = state.relay();
    let mut cat = catalog(&mut relay, &ctx)?;
    let before = cat.read()?.products;
    let total = rows.len();
    let mut codes_in_file = HashSet::new();
    let (products, mut errors) =
        parse_rows(&rows, |row| -> std::result::Result<ProductInput, String> {
            let get = |k: &str| row.get(k).cloned().unwrap_or_default();
            let list_price =
                money::parse_amount("list price", &get("list_price")).map_err(|e| e.to_string())?;
            if !codes_in_file.insert(get("code")) {
                return Err(format!(
                    "product code {} is in this file twice",
                    get("code")
                ));
            }
            Ok(ProductInput {
                code: get("code"),
                name: get("name"),
                spec: get("spec"),
                category: get("category"),
                unit: get("unit"),
                list_price,
                active: !yes_no("discontinued", &get("discontinued"))?,
            })
        });
    let mut imported = Imported::default();
    for (_, p) in &products {
        match before.get(p.code.trim()) {
            None => imported.created += 1,
            Some(b)
                if b.name == p.name.trim()
                    && b.spec == p.spec.trim()
                    && b.category == p.category.trim()
                    && b.unit == p.unit.trim()
                    && b.list_price == p.list_price
                    && b.active == p.active =>
            {
                imported.unchanged += 1
            }
            Some(_) => imported.updated += 1,
        }
    }
    // A file that says what the catalog says changes nothing.
    if errors.is_empty() && imported.rows() > imported.unchanged {
        // All or nothing: a wrong row anywhere changes nothing.
        for (line, e) in cat.upsert_products(&ctx, products)? {
            errors.push(format!("row {line}: {e}"));
        }
    }
    if !errors.is_empty() {
        return Err(report_rows(errors, "products"));
    }
    if imported.rows() > imported.unchanged {
        relay.commit_edit(&actor, cat.document())?;
    }
    progress(total, total);
    Ok(imported)
}

/// Publishes stock figures from CSV with columns `code` and any of
/// `on_hand`, `reserved` (the warehouse's) and `in_production`
/// (production's), as `user` (a warehouse or production user): one change
/// for the whole file, checked all or nothing.
pub fn import_stock(
    state: &AppState,
    input: impl Read,
    user: &str,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize> {
    let rows = csv_rows(input, &["code"], &["on_hand", "in_production", "reserved"])?;
    let mut relay = state.relay();
    let u = accounts::user(relay.store().connection(), user)?;
    let role: Role = u.role.parse()?;
    let actor = fieldsync_core::Actor::new(&u.id, role, None, fieldsync_core::OFFICE_DEVICE)?;
    let ctx = ChangeCtx::now(actor.clone());
    let Some(id) = catalog_id(&mut relay)? else {
        return Err(ServerError::BadRequest(
            "there is no catalog yet: import the products first (admin import-products)".into(),
        ));
    };
    let mut cat = CatalogDoc::from_document(relay.load(id)?)?;
    let (figures, mut errors) = parse_rows(&rows, |row| {
        // An empty cell is a figure not given.
        let cell = |k: &str| row.get(k).map(String::as_str).filter(|v| !v.is_empty());
        StockFigures::from_text(
            cell("code").unwrap_or_default(),
            cell("on_hand"),
            cell("in_production"),
            cell("reserved"),
        )
    });
    let total = figures.len();
    if errors.is_empty() {
        for (line, e) in cat.publish_stocks(&ctx, figures)? {
            errors.push(format!("row {line}: {e}"));
        }
    }
    if !errors.is_empty() {
        return Err(report_rows(errors, "stock"));
    }
    relay.commit_edit(&actor, cat.document())?;
    progress(total, total);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreadsheet_files_are_read_as_written() {
        let required = ["code", "name", "list_price"];
        // Semicolons, capitals, spaces and a byte order mark.
        let file = "\u{feff}Code;Name;List Price\nTS-1;\"Shirt; red\";12.50\n";
        let rows = csv_rows(file.as_bytes(), &required, &[]).unwrap();
        let row = rows[0].1.as_ref().unwrap();
        assert_eq!(row["name"], "Shirt; red");
        assert_eq!(row["list_price"], "12.50");
        let tabs = csv_rows(
            "code\tname\tlist_price\nA\tB\t1\n".as_bytes(),
            &required,
            &[],
        )
        .unwrap();
        assert_eq!(tabs[0].1.as_ref().unwrap()["name"], "B");
        // Windows-1252: "é" as one byte.
        let e = csv_rows(
            &b"code,name,list_price\nTS-1,Caf\xe9,1\n"[..],
            &required,
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("not UTF-8") && e.contains("line 2") && e.contains("CSV UTF-8"),
            "{e}"
        );
        // A column nobody reads is not dropped silently.
        let e = csv_rows(
            "code,name,list_price,colour\n".as_bytes(),
            &required,
            &["on_hand"],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not take: colour"), "{e}");
        assert!(e.contains("code,name,list_price,on_hand"), "{e}");
        let e = csv_rows("code,name\n".as_bytes(), &required, &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("lacks column(s) list_price"), "{e}");
    }
}
