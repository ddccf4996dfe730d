"""notify-migrate: export, import and migrate a Service's bindings over HTTP (see __main__)."""
