"""NAS search spaces: generators of `Network`s from architecture parameters."""
