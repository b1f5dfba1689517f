//! The catalog's rules: admin owns products and price lists, the warehouse
//! publishes stock on hand and reserved, production what is in production.

use super::limits::{self, MAX_ITEMS, MAX_PRODUCTS};
use super::{KindRules, Verdict, created_by_actor, role_may, validate_meta};
use crate::actor::{Actor, Role};
use crate::catalog::Catalog;

impl KindRules for Catalog {
    fn validate(&self) -> Verdict {
        use limits::{amount, count, short_text, time};
        validate_meta(&self.meta)?;
        count("the catalog's products", self.products.len(), MAX_PRODUCTS)?;
        for (code, p) in &self.products {
            short_text("a product code", code)?;
            if *code != p.code {
                return Err(format!(
                    "product {code} is filed under a code that is not its own ({})",
                    p.code
                ));
            }
            let field = |f: &str| format!("product {code}: {f}");
            short_text(&field("name"), &p.name)?;
            short_text(&field("specification"), &p.spec)?;
            short_text(&field("category"), &p.category)?;
            short_text(&field("unit"), &p.unit)?;
            amount(&field("list price"), p.list_price)?;
            amount(&field("stock on hand"), p.stock.on_hand)?;
            amount(&field("stock in production"), p.stock.in_production)?;
            amount(&field("stock reserved"), p.stock.reserved)?;
            if let Some(t) = p.stock.as_of {
                time(&field("stock date"), t)?;
            }
        }
        count("the price lists", self.price_lists.len(), MAX_ITEMS)?;
        for (id, l) in &self.price_lists {
            short_text("a price list's id", id)?;
            short_text("a price list's name", &l.name)?;
            count(
                &format!("price list {}", l.name),
                l.prices.len(),
                MAX_PRODUCTS,
            )?;
            for (code, price) in &l.prices {
                short_text("a product code", code)?;
                amount(&format!("price list {}: {code}", l.name), *price)?;
            }
        }
        Ok(())
    }

    fn check_change(actor: &Actor, before: Option<&Catalog>, after: &Catalog) -> Verdict {
        let Some(before) = before else {
            created_by_actor(actor, &after.meta)?;
            return role_may(actor, &[Role::Admin], "create the catalog");
        };
        if before.price_lists != after.price_lists {
            role_may(actor, &[Role::Admin], "edit price lists")?;
        }
        let strip_stock = |c: &Catalog| {
            c.products
                .iter()
                .map(|(k, p)| {
                    let mut p = p.clone();
                    p.stock = Default::default();
                    (k.clone(), p)
                })
                .collect::<Vec<_>>()
        };
        if strip_stock(before) != strip_stock(after) {
            role_may(actor, &[Role::Admin], "edit the catalog")?;
        }
        for (code, p) in &after.products {
            let old = before
                .products
                .get(code)
                .map(|p| p.stock.clone())
                .unwrap_or_default();
            if old.on_hand != p.stock.on_hand || old.reserved != p.stock.reserved {
                role_may(actor, &[Role::Warehouse], "publish warehouse stock")?;
            }
            if old.in_production != p.stock.in_production {
                role_may(actor, &[Role::Production], "publish production figures")?;
            }
        }
        Ok(())
    }
}
