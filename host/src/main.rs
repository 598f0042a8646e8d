//! The `chaoskit-host` command line.

fn main() {
    std::process::exit(chaoskit::cli::main());
}
