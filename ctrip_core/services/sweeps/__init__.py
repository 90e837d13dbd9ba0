"""Sweeps: moving confirmed deposits to the treasury. One pass (sweep_pass) advances the sweeps
already signed (tracking), then signs new ones (starting); every signature goes through signing,
which trusts configuration, never the database, for where money goes."""
