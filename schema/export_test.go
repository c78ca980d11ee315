package schema

// CheckCalendar is checkCalendar for the external tests, which need
// internal/testenv (and it imports this package).
var CheckCalendar = checkCalendar

// NormalizeCalendar is the expression as systemd prints it, or "" when
// refused.
func NormalizeCalendar(s string) string {
	c, err := parseCalendar(s)
	if err != nil {
		return ""
	}
	return c.normalized()
}
