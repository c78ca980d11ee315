package calendar

// Normalize is the expression as systemd prints it, or "" when refused,
// for the external tests (which need internal/testenv, and it imports
// schema, which imports this package).
func Normalize(s string) string {
	c, err := parseCalendar(s)
	if err != nil {
		return ""
	}
	return c.normalized()
}
