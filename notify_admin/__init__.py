"""The administrator's command line: accounts and API keys of a notify-bindings deployment."""
