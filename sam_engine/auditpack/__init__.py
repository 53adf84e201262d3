"""The audit evidence pack: one publisher's position and its evidence in a verifiable zip."""
