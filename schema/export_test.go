package schema

// CheckCalendar is checkCalendar for the external tests, which need
// internal/testenv (and it imports this package).
var CheckCalendar = checkCalendar
