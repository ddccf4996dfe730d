"""What the project's command-line tools (notify-admin, notify-migrate) share."""
