"""The core's rate providers, each a plugin of the `ctrip` entry-point group (see `rates.RateProvider`)."""
