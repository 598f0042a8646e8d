//! The `chaoskit-host` binary: everything lives in `chaoskit::cli`.

fn main() -> std::process::ExitCode {
    chaoskit::cli::main()
}
