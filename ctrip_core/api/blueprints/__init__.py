"""HTTP routes, one module per resource. Handlers parse, call `ctrip_core.services`, and render."""
