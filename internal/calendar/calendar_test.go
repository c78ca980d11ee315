package calendar_test

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/immich-render/immich-render/internal/calendar"
	"github.com/immich-render/immich-render/internal/testenv"
)

// calendarCorpus mixes the forms of systemd.time(7) with near misses.
var calendarCorpus = []string{
	// specials, any case
	"minutely", "hourly", "daily", "DAILY", "Daily", "weekly", "monthly", "yearly", "annually", "anually",
	"quarterly", "semiannually", "semi-annually", "biannually", "bi-annually", "daily UTC", "weekly Europe/Berlin",
	"dayly", "daily ", " daily", "daily,", "daily 02:00", "hourly/2", "",
	// times
	"02:00", "2:0", "02:30:00", "02:30:15.5", "02:30:59.999999", "02:30:59.9999995", "02:30:60", "24:00", "23:59:59",
	"*:0/15", "*:00/15", "*:*:*", "*:*", "*:*/15", "0/2:00", "00..06:00", "06..00:00", "00..23/6:00", "00..23/24:00",
	"1,2,3:00", "1,,2:00", "1,:00", "02:", ":30", "02:30:", "02::30", "02:30:00:00", "02.5:00", "02:30.5",
	"02:30:00.", "02:30:.5", "02:30:1..5", "02:30:1..5/2", "02:30:0/0.5", "02:30:0/0", "9999999999:00",
	"99999999999999999999999:00", "02:30:2147", "02:30:2148", "4294967296:00", "+1:00", "-1:00", "0x10:00",
	// dates
	"*-*-*", "*-*-* 02:00", "*-*-* 02:00:00", "*-*-*  02:00", "*-*-* *:*:*", "*-*-01", "*-01-01", "01-01", "12-31",
	"*-02-29", "*-02-30", "*-04-31", "*-02,04-30", "*-02,04-31", "*-*-31", "*-*-32", "*-13-01", "*-00-01", "*-01-00",
	"*-02~01", "*-*~03", "*-*~28", "*-*~29", "02~1", "*~07/1", "*-*~7/7", "*-*~01..07", "*-*-1..7", "*-*-7..1",
	"*-*-1/7", "*-*-31/1", "*-*-1..31/10", "*-*-1..31/31", "2030-01-01", "2030-*-*", "30-01-01", "*-*-* 02:00:00 ",
	"2030-01-01 02:00", "1969-01-01", "2200-01-01", "@1700000000", "@", "@-1", "*-*", "*-", "-*-*", "*-*-*-*",
	"*-*~*", "*~*-*", "*-*-*~1", "1-2-3-4", "*/2-*-*",
	// weekdays
	"Mon", "mon", "MON", "Monday", "monday", "Mon..Fri", "Mon-Fri", "Fri..Mon", "Mon..Wed..Fri", "Mon,Wed,Fri",
	"Mon,,Fri", "Mon,", "Mon, 02:00", "Mon,  02:00", "Mon..", "Mon.. 02:00", "Mon.Fri", "Mond", "Moon", "Mo",
	"Sat,Sun 09:00", "Mon..Fri 02:00", "Mon..Fri *-*-* 02:00:00", "Tue *-*-01..07 03:00", "Sun *-*~07/1",
	"Mon-", "Mon-02:00", "Mon 02:00 ", "Saturday..Sunday", "Thu,Tue", "Mon..Fri,Sun", "Mon-Wed,Fri-Sun",
	"Mon UTC", "Mon 12-24", "Wed 2030-01-01", "Sun..Sat",
	// time zones
	"02:00 UTC", "02:00 utc", "02:00 Utc", "02:00 Europe/Berlin", "02:00 europe/berlin", "02:00 America/New_York",
	"02:00 Etc/GMT+5", "02:00 Etc/GMT-14", "02:00 CET", "02:00 CEST", "02:00 EST5EDT", "02:00 Nowhere/City",
	"02:00 Europe/Berlin UTC", "02:00 UTC Europe/Berlin", "Europe/Berlin", "UTC", " UTC", "02:00 Local", "02:00 ../etc",
	"*-*-* 02:00:00 Asia/Kolkata", "daily Europe/Berlinn", "Mon Europe/Paris",
	// junk
	"02:00\t", "02:00;", "02:00 # comment", "now", "today", "tomorrow", "1h", "@daily", "0 2 * * *", "*/15 * * * *",
}

// calendarFuzz makes expressions from the grammar's pieces, so that the
// corpus also has combinations nobody wrote down.
func calendarFuzz(n int) []string {
	r := rand.New(rand.NewPCG(1, 16))
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	num := func() string {
		return pick("0", "1", "2", "7", "12", "13", "23", "24", "28", "29", "30", "31", "59", "60", "00", "05", "2030", "99")
	}
	comp := func(sec bool) string {
		switch r.IntN(7) {
		case 0:
			return "*"
		case 1:
			return num() + ".." + num()
		case 2:
			return num() + "/" + pick("1", "2", "3", "7", "15", "0")
		case 3:
			return num() + "," + num()
		case 4:
			if sec {
				return num() + "." + pick("5", "25", "999999", "0000005")
			}
		}
		return num()
	}
	var out []string
	for range n {
		var parts []string
		if r.IntN(3) == 0 {
			parts = append(parts, pick("Mon", "Fri", "Sun", "Mon..Fri", "Sat,Sun", "Fri..Mon", "Tue-Thu", "Wed,"))
		}
		switch r.IntN(4) {
		case 0:
			parts = append(parts, comp(false)+"-"+comp(false))
		case 1:
			parts = append(parts, comp(false)+"-"+comp(false)+pick("-", "~")+comp(false))
		case 2:
			parts = append(parts, comp(false)+"~"+comp(false))
		}
		switch r.IntN(3) {
		case 0:
			parts = append(parts, comp(false)+":"+comp(false))
		case 1:
			parts = append(parts, comp(false)+":"+comp(false)+":"+comp(true))
		}
		if r.IntN(5) == 0 {
			parts = append(parts, pick("UTC", "Europe/Berlin", "Mars/Base", "utc"))
		}
		out = append(out, strings.Join(parts, " "))
	}
	return out
}

// TestCalendarMatchesSystemd holds checkCalendar to systemd-analyze
// calendar: whatever immich-render accepts, systemd accepts and will fire
// again; whatever systemd refuses, immich-render refuses; and the only
// expressions systemd takes that immich-render refuses are the documented
// subset (a year, an @timestamp, a date that never comes, a host-local
// zone abbreviation).
func TestCalendarMatchesSystemd(t *testing.T) {
	bin := testenv.Binary(t, "systemd-analyze")
	exprs := append(append([]string{}, calendarCorpus...), calendarFuzz(400)...)
	var agree, subset int
	for _, e := range exprs {
		cmd := exec.Command(bin, "calendar", "--", e)
		// UTC on the host, so that systemd's local-zone abbreviations are
		// the machine-independent "UTC".
		cmd.Env = append(os.Environ(), "TZ=UTC", "SYSTEMD_COLORS=0")
		out, err := cmd.CombinedOutput()
		sysOK := err == nil
		never := strings.Contains(string(out), "Next elapse: never")
		reason := calendar.Check(e)
		switch {
		case reason == "" && !sysOK:
			t.Errorf("immich-render accepts %q, systemd refuses it:\n%s", e, out)
		case reason == "" && never:
			t.Errorf("immich-render accepts %q, which never fires:\n%s", e, out)
		case reason != "" && sysOK:
			documented := never || strings.Contains(reason, "with a year") || strings.Contains(reason, "@timestamp") || strings.Contains(reason, "is not a time zone")
			if !documented {
				t.Errorf("immich-render refuses %q (%s), systemd accepts it:\n%s", e, reason, out)
			}
			subset++
		default:
			agree++
		}
		// Where both accept, both must mean the same schedule.
		if reason == "" && sysOK {
			var norm string
			for l := range strings.Lines(string(out)) {
				if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Normalized form: "); ok {
					norm = v
				}
			}
			if got := calendar.Normalize(e); got != norm {
				t.Errorf("%q: immich-render reads %q, systemd %q", e, got, norm)
			}
		}
	}
	t.Logf("%d expressions: %d decided alike, %d in the documented subset systemd takes and immich-render refuses", len(exprs), agree, subset)
}
