//! `sentinel`: a thin main over [`cli::run`], which parses, runs and reports errors.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(cli::run(std::env::args_os()))
}
