//! The shared catalog: products, price lists and the stock figures head office
//! publishes (DOMAIN.md, "Catalog"). One document, seen by every device.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::access::{require_role, require_text};
use crate::actor::{ChangeCtx, Role};
use crate::customer::Grade;
use crate::document::{DocKind, Document, Meta};
use crate::error::{Error, Result};
use crate::ids::new_item_id;
use crate::money::check_non_negative;

/// Stock figures for a product, as head office last published them. Devices
/// show these "as of" the time given, never as live truth.
#[derive(Debug, Clone, Default, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Stock {
    /// In the warehouse.
    #[autosurgeon(with = "crate::codec::decimal")]
    pub on_hand: Decimal,
    /// Being produced.
    #[autosurgeon(with = "crate::codec::decimal")]
    pub in_production: Decimal,
    /// On hand but promised to orders.
    #[autosurgeon(with = "crate::codec::decimal")]
    pub reserved: Decimal,
    /// When these figures were published.
    #[autosurgeon(with = "crate::codec::opt_time")]
    pub as_of: Option<DateTime<Utc>>,
}

impl Stock {
    /// On hand and not reserved.
    pub fn available(&self) -> Decimal {
        self.on_hand - self.reserved
    }
}

/// A product.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Product {
    /// Product code (the key in the catalog).
    pub code: String,
    /// Name.
    pub name: String,
    /// Model or specification.
    pub spec: String,
    /// Category (product line) the catalog groups it under.
    #[autosurgeon(missing = "Default::default")]
    pub category: String,
    /// Unit of sale.
    pub unit: String,
    /// List price.
    #[autosurgeon(with = "crate::codec::decimal")]
    pub list_price: Decimal,
    /// Still sold.
    pub active: bool,
    /// Published stock figures.
    pub stock: Stock,
}

/// A price list, optionally for one customer grade.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct PriceList {
    /// Name ("2026 autumn, grade A").
    pub name: String,
    /// The grade it applies to, if only one.
    pub grade: Option<Grade>,
    /// Prices by product code.
    #[autosurgeon(with = "crate::codec::decimal_map")]
    pub prices: BTreeMap<String, Decimal>,
}

/// The catalog as read from its document.
#[derive(Debug, Clone, PartialEq, Eq, Reconcile, Hydrate)]
pub struct Catalog {
    /// Header.
    pub meta: Meta,
    /// Products by code.
    pub products: BTreeMap<String, Product>,
    /// Price lists by a stable id.
    pub price_lists: BTreeMap<String, PriceList>,
}

impl Catalog {
    /// The price of `code` for a customer of `grade`: the grade's price list if
    /// it has the product, otherwise the list price.
    pub fn price_for(&self, code: &str, grade: Grade) -> Result<Decimal> {
        let product = self
            .products
            .get(code)
            .ok_or_else(|| Error::UnknownProduct(code.to_string()))?;
        Ok(self
            .price_lists
            .values()
            .filter(|l| l.grade == Some(grade))
            .find_map(|l| l.prices.get(code).copied())
            .unwrap_or(product.list_price))
    }
}

/// What a new or updated product needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProductInput {
    /// Product code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Model or specification.
    pub spec: String,
    /// Category (product line); may be empty.
    pub category: String,
    /// Unit of sale.
    pub unit: String,
    /// List price.
    pub list_price: Decimal,
    /// Still sold (false: discontinued).
    pub active: bool,
}

/// The product `input` describes, keeping the stock figures the catalog
/// `c` publishes of it (stock is the warehouse's and production's to publish).
fn product_from(c: &Catalog, input: ProductInput) -> Result<Product> {
    let code = require_text(&input.code, "product code")?;
    let stock = c
        .products
        .get(&code)
        .map(|p| p.stock.clone())
        .unwrap_or_default();
    Ok(Product {
        code,
        name: require_text(&input.name, "product name")?,
        spec: input.spec.trim().to_string(),
        category: input.category.trim().to_string(),
        unit: require_text(&input.unit, "unit")?,
        list_price: check_non_negative("list price", input.list_price)?,
        active: input.active,
        stock,
    })
}

/// The catalog document.
#[derive(Debug)]
pub struct CatalogDoc {
    doc: Document,
}

impl CatalogDoc {
    /// Creates an empty catalog (admin).
    pub fn create(ctx: &ChangeCtx) -> Result<Self> {
        require_role(&ctx.actor, &[Role::Admin], "create the catalog")?;
        let meta = Meta::new(ctx, DocKind::Catalog, ctx.actor.user(), None);
        let catalog = Catalog {
            meta: meta.clone(),
            products: BTreeMap::new(),
            price_lists: BTreeMap::new(),
        };
        Ok(CatalogDoc {
            doc: Document::create(ctx, meta, &catalog)?,
        })
    }

    /// Loads a catalog document.
    pub fn load(bytes: &[u8]) -> Result<Self> {
        Ok(CatalogDoc {
            doc: Document::load_kind(bytes, DocKind::Catalog)?,
        })
    }

    /// Wraps a document already loaded, checking its kind.
    pub fn from_document(doc: Document) -> Result<Self> {
        doc.expect_kind(DocKind::Catalog)?;
        Ok(CatalogDoc { doc })
    }

    /// The underlying document (for storage and sync).
    pub fn document(&mut self) -> &mut Document {
        &mut self.doc
    }

    /// The underlying document, given up (e.g. back to the store's open
    /// documents).
    pub fn into_document(self) -> Document {
        self.doc
    }

    /// Reads the catalog.
    pub fn read(&self) -> Result<Catalog> {
        self.doc.view()
    }

    /// Adds a product or updates one with the same code (admin). Stock figures
    /// of an existing product are kept.
    pub fn upsert_product(&mut self, ctx: &ChangeCtx, input: ProductInput) -> Result<()> {
        match self.upsert_products(ctx, vec![((), input)])?.pop() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Adds or updates many products as one change, reading and writing the
    /// catalog once (an import of thousands costs what it holds, not its
    /// square). Each input comes with a key of the caller's (a CSV line);
    /// if any input is wrong, nothing changes and each wrong one comes back
    /// with its key and why.
    pub fn upsert_products<K>(
        &mut self,
        ctx: &ChangeCtx,
        inputs: Vec<(K, ProductInput)>,
    ) -> Result<Vec<(K, Error)>> {
        require_role(&ctx.actor, &[Role::Admin], "edit the catalog")?;
        let mut c = self.read()?;
        let mut wrong = Vec::new();
        for (key, input) in inputs {
            match product_from(&c, input) {
                Ok(product) => {
                    c.products.insert(product.code.clone(), product);
                }
                Err(e) => wrong.push((key, e)),
            }
        }
        if wrong.is_empty() {
            self.doc.update(ctx, &c)?;
        }
        Ok(wrong)
    }

    /// Stops selling a product (admin); it stays for existing orders.
    pub fn discontinue(&mut self, ctx: &ChangeCtx, code: &str) -> Result<()> {
        require_role(&ctx.actor, &[Role::Admin], "edit the catalog")?;
        let mut c = self.read()?;
        let p = c
            .products
            .get_mut(code)
            .ok_or_else(|| Error::UnknownProduct(code.to_string()))?;
        p.active = false;
        self.doc.update(ctx, &c)
    }

    /// Adds a price list (admin); returns its id.
    pub fn add_price_list(
        &mut self,
        ctx: &ChangeCtx,
        name: &str,
        grade: Option<Grade>,
        prices: BTreeMap<String, Decimal>,
    ) -> Result<String> {
        require_role(&ctx.actor, &[Role::Admin], "edit price lists")?;
        let mut c = self.read()?;
        let mut checked = BTreeMap::new();
        for (code, price) in prices {
            if !c.products.contains_key(&code) {
                return Err(Error::UnknownProduct(code));
            }
            checked.insert(code, check_non_negative("price", price)?);
        }
        let id = new_item_id();
        c.price_lists.insert(
            id.clone(),
            PriceList {
                name: require_text(name, "price list name")?,
                grade,
                prices: checked,
            },
        );
        self.doc.update(ctx, &c)?;
        Ok(id)
    }

    /// Publishes stock figures for a product. The warehouse publishes on hand
    /// and reserved; production publishes in production. `None` leaves a figure
    /// as it is.
    pub fn publish_stock(
        &mut self,
        ctx: &ChangeCtx,
        code: &str,
        on_hand: Option<Decimal>,
        in_production: Option<Decimal>,
        reserved: Option<Decimal>,
    ) -> Result<()> {
        let figures = StockFigures {
            code: code.to_string(),
            on_hand,
            in_production,
            reserved,
        };
        match self.publish_stocks(ctx, vec![((), figures)])?.pop() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Publishes the stock figures of many products as one change (a
    /// warehouse's CSV, a production run's update). Each comes with a key of
    /// the caller's (a CSV line); if any is wrong, nothing changes and each
    /// wrong one comes back with its key and why.
    pub fn publish_stocks<K>(
        &mut self,
        ctx: &ChangeCtx,
        figures: Vec<(K, StockFigures)>,
    ) -> Result<Vec<(K, Error)>> {
        require_role(
            &ctx.actor,
            &[Role::Warehouse, Role::Production],
            "publish stock figures",
        )?;
        let role = ctx.actor.role();
        let mut c = self.read()?;
        let mut wrong = Vec::new();
        for (key, f) in figures {
            let publish = |c: &mut Catalog| -> Result<()> {
                if role == Role::Production && (f.on_hand.is_some() || f.reserved.is_some()) {
                    return Err(Error::RoleNotAllowed {
                        role: role.with_article(),
                        action: "publish warehouse stock (on hand, reserved)",
                    });
                }
                if role == Role::Warehouse && f.in_production.is_some() {
                    return Err(Error::RoleNotAllowed {
                        role: role.with_article(),
                        action: "publish production figures",
                    });
                }
                let p = c
                    .products
                    .get_mut(&f.code)
                    .ok_or_else(|| Error::UnknownProduct(f.code.clone()))?;
                if let Some(v) = f.on_hand {
                    p.stock.on_hand = check_non_negative("stock on hand", v)?;
                }
                if let Some(v) = f.in_production {
                    p.stock.in_production = check_non_negative("stock in production", v)?;
                }
                if let Some(v) = f.reserved {
                    p.stock.reserved = check_non_negative("reserved stock", v)?;
                }
                p.stock.as_of = Some(ctx.at);
                Ok(())
            };
            if let Err(e) = publish(&mut c) {
                wrong.push((key, e));
            }
        }
        if wrong.is_empty() {
            self.doc.update(ctx, &c)?;
        }
        Ok(wrong)
    }
}

/// Stock figures to publish for one product; `None` leaves a figure as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockFigures {
    /// The product code.
    pub code: String,
    /// In the warehouse (the warehouse's).
    pub on_hand: Option<Decimal>,
    /// Being produced (production's).
    pub in_production: Option<Decimal>,
    /// Promised to orders (the warehouse's).
    pub reserved: Option<Decimal>,
}

impl StockFigures {
    /// The figures for product `code` as typed (an import's cells, a form,
    /// the API's strings); a figure not given stays `None`.
    pub fn from_text(
        code: &str,
        on_hand: Option<&str>,
        in_production: Option<&str>,
        reserved: Option<&str>,
    ) -> Result<StockFigures> {
        let figure = |what: &'static str, v: Option<&str>| {
            v.map(|v| crate::money::parse_amount(what, v)).transpose()
        };
        Ok(StockFigures {
            code: code.to_string(),
            on_hand: figure("on hand", on_hand)?,
            in_production: figure("in production", in_production)?,
            reserved: figure("reserved", reserved)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    fn product(code: &str, price: &str) -> ProductInput {
        ProductInput {
            code: code.into(),
            name: format!("Shirt {code}"),
            spec: "cotton".into(),
            unit: "pcs".into(),
            list_price: d(price),
            active: true,
            ..Default::default()
        }
    }

    #[test]
    fn admin_keeps_the_catalog_and_grades_get_their_prices() {
        let mut c = CatalogDoc::create(&admin()).unwrap();
        c.upsert_product(&admin(), product("TS-1", "20")).unwrap();
        c.upsert_product(&admin(), product("TS-2", "30")).unwrap();
        let prices = BTreeMap::from([("TS-1".to_string(), d("17.5"))]);
        c.add_price_list(&admin(), "Grade A 2026", Some(Grade::A), prices)
            .unwrap();
        let cat = c.read().unwrap();
        assert_eq!(cat.price_for("TS-1", Grade::A).unwrap(), d("17.5"));
        assert_eq!(cat.price_for("TS-1", Grade::B).unwrap(), d("20"));
        assert_eq!(cat.price_for("TS-2", Grade::A).unwrap(), d("30"));
        assert_eq!(
            cat.price_for("NOPE", Grade::A),
            Err(Error::UnknownProduct("NOPE".into()))
        );
    }

    #[test]
    fn only_admin_edits_products() {
        let mut c = CatalogDoc::create(&admin()).unwrap();
        for who in [sales(), manager(), warehouse(), finance()] {
            assert!(matches!(
                c.upsert_product(&who, product("X", "1")),
                Err(Error::RoleNotAllowed { .. })
            ));
        }
        assert!(c.upsert_product(&admin(), product("X", "-1")).is_err());
        assert!(c.read().unwrap().products.is_empty());
    }

    #[test]
    fn stock_figures_are_published_by_their_owners() {
        let mut c = CatalogDoc::create(&admin()).unwrap();
        c.upsert_product(&admin(), product("TS-1", "20")).unwrap();
        c.publish_stock(&warehouse(), "TS-1", Some(d("100")), None, Some(d("30")))
            .unwrap();
        c.publish_stock(&production(), "TS-1", None, Some(d("500")), None)
            .unwrap();
        assert!(
            c.publish_stock(&production(), "TS-1", Some(d("1")), None, None)
                .is_err()
        );
        assert!(
            c.publish_stock(&warehouse(), "TS-1", None, Some(d("1")), None)
                .is_err()
        );
        assert!(
            c.publish_stock(&sales(), "TS-1", Some(d("1")), None, None)
                .is_err()
        );
        let s = c.read().unwrap().products["TS-1"].stock.clone();
        assert_eq!(
            (s.on_hand, s.in_production, s.reserved),
            (d("100"), d("500"), d("30"))
        );
        assert_eq!(s.available(), d("70"));
        assert_eq!(s.as_of, Some(t0()));
        // Updating the product keeps its stock.
        c.upsert_product(&admin(), product("TS-1", "21")).unwrap();
        assert_eq!(c.read().unwrap().products["TS-1"].stock.on_hand, d("100"));
    }

    #[test]
    fn everyone_sees_the_catalog() {
        let mut c = CatalogDoc::create(&admin()).unwrap();
        let meta = c.document().meta().clone();
        for who in [sales(), sales_b(), manager_west(), finance()] {
            assert!(crate::may_see(&who.actor, &meta));
        }
    }
}
