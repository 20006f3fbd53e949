//! Rebuilds when a migration changes: `sqlx::migrate!` embeds the files at compile time,
//! and cargo does not see them otherwise.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
