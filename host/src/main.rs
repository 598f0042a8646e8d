//! The `chaoskit-host` command line (being built: see the CLI issue).

fn main() {
    eprintln!("chaoskit-host: the command line is not built yet; use the `chaoskit` library");
    std::process::exit(2);
}
