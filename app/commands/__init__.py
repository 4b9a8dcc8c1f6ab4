"""Subcommands: one module each, discovered by app.cli (see its docstring).

COMMANDS names every command with its module and one-line summary, so that
`portside --help` (and finding which module argv names) imports no command
module. tests/test_cli_startup.py holds it equal to what the modules register;
a module missing from it makes the CLI fall back to importing them all.
"""

COMMANDS: dict[str, tuple[str, str]] = {
    # command: (module, summary as the module's add_parser(help=...) says it)
    "config": ("config", "validate portside.yaml and show the effective settings (secrets redacted)"),
    "conflicts": ("conflicts", "list port conflicts between containers, swarm, compose files, host processes and the registry"),
    "decisions": ("decisions", "list applied plans (remaps, integrations, undos) with who, when and why"),
    "events": ("events", "show the event log (what notifications were sent about), newest first"),
    "export": ("export", "write the port registry as ports.json (assignments, history, reserved)"),
    "health": ("health", "poll every service's health endpoint once (or keep watching)"),
    "import": ("import_ports", "read a ports.json back into the port registry"),
    "integrate": ("integrate", "write the config that wires an integration (email, mqtt, ...) into a stack"),
    "integrations": ("integrations", "list applied integrations with their status; hand-edited files show as drifted"),
    "ports": ("ports", "list every port binding: containers, swarm, compose files, host processes, registry"),
    "recover": ("recover", "finish or roll back applies that were interrupted (list with --list)"),
    "remap": ("remap", "move conflicting compose ports to free ones (diff first; --yes applies)"),
    "undo": ("undo", "restore the files of a decision (refused if they changed since)"),
    "verify": ("verify", "check an integration against the real service (send a test mail, connect to the broker)"),
}
