//! The `lode` binary (built by the root package); everything it does lives in `lode-cli`.

/// mimalloc rather than glibc's allocator: the writer's state grows with every event, and
/// glibc grew a thread's heap 128 KiB at a time (an `mprotect` and fresh page faults each),
/// which with the rest of its malloc was a quarter of the writer's time in a bulk import
/// (`docs/benchmarks.md`). Without transparent huge pages (`no_thp`), which cost 50 MiB of
/// resident memory even for small commands.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    lode_cli::main()
}
