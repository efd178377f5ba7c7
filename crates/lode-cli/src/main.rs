//! The `lode` binary (built by the root package); everything it does lives in `lode-cli`.

fn main() -> std::process::ExitCode {
    lode_cli::main()
}
