//! The clap definition itself.

#[test]
fn the_command_definition_is_consistent() {
    cli::command().debug_assert();
}

#[test]
fn help_documents_every_exit_code() {
    let help = cli::command().render_long_help().to_string();
    for line in ["0  success", "2  usage", "3  denied", "4  not found", "5  conflict", "6  unavailable", "128+N"] {
        assert!(help.contains(line), "help lacks {line:?}:\n{help}");
    }
}
