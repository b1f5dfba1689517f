//! `cargo run -p uniffi-bindgen -- generate <library> --language kotlin --out-dir <dir>`
//! (see `scripts/bindings.sh`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
