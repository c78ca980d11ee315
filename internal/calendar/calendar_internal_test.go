package calendar

import (
	"strings"
	"testing"
)

// TestCalendarMessages pins what a refusal says and where it points;
// TestCalendarMatchesSystemd checks the verdicts against systemd itself.
func TestCalendarMessages(t *testing.T) {
	for expr, want := range map[string]string{
		"Mon..Fir 02:00":      `expected a weekday (Mon, Tuesday, ...) at "Fir 02:00" (at character 6)`,
		"Sat 25:00":           `25 is not a valid hour (0 to 23) (at character 5)`,
		"*-*-* 02:60":         `60 is not a valid minute (0 to 59) (at character 10)`,
		"*-13-01":             `13 is not a valid month (1 to 12) (at character 3)`,
		"*-*-* 02:00:61":      `61 is not a valid second (0 to 59.999999) (at character 13)`,
		"*-*-* 00..23/24:00":  ``,
		"*-*~29":              `29 is not a valid day (1 to 28) (at character 5)`,
		"*-*-* 10..05:00":     `the hour range 10..5 runs backwards (at character 7)`,
		"*-*-* 00/0:00":       `a repetition of 0 (at character 10)`,
		"*-02,04-31":          `no month in the schedule has that day, so it never fires (at character 9)`,
		"*-02,03-31":          ``,
		"2030-01-01":          `a schedule with a year stops firing`,
		"@1700000000":         `an @timestamp fires only once (at character 1)`,
		"Fri..Mon":            `the weekday range ends at Mon, before it starts (at character 6)`,
		"Mon.. 02:00":         `the weekday range has no end (at character 6)`,
		"02:00 Mars/Base":     `"Mars/Base" is not a time zone`,
		"02:00 Europe/Berlin": ``,
		"daily UTC":           ``,
		"30 2 * * *":          `is a cron expression; systemd's calendar syntax differs`,
		"":                    `it is empty (at character 1)`,
	} {
		got := Check(expr)
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("Check(%q) = %q, want %q", expr, got, want)
		}
	}
}

// FuzzCalendar: any input gets a verdict without panicking, and a refusal
// points inside the expression.
func FuzzCalendar(f *testing.F) {
	for _, s := range []string{"daily", "Mon..Fri *-*-* 02:30:00 Europe/Berlin", "*-02~03", "*:0/15", "12:00:59.9999995", "@1", "Mon,", "1,2,3:4..5/2:6.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := parseCalendar(s)
		if err != nil && (err.pos < 0 || err.pos > len(s)) {
			t.Errorf("%q: position %d outside the expression", s, err.pos)
		}
		Check(s)
	})
}
