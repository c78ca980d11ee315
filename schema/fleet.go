package schema

// IsFleet reports whether the inputs describe a fleet (a top-level hosts:
// field) rather than a single site. (Issue 9: not implemented yet.)
func IsFleet(inputs []Input, opt Options) bool { return false }
