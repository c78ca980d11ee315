// Package calendar checks systemd calendar expressions (systemd.time(7),
// OnCalendar=) in Go, because the machine that renders need not run
// systemd.
package calendar

import (
	"fmt"
	"strings"
	"time"
)

// Calendar expressions (systemd.time(7), OnCalendar=) are checked here, in
// Go, because the machine that renders need not run systemd. The parser
// follows systemd's own (calendarspec.c, systemd 252) step by step, so it
// accepts and refuses what `systemd-analyze calendar` does; the tests hold
// it to that on a corpus. It accepts a subset, and says so in its messages:
//
//   - no year and no @timestamp: they fire at most once, and a backup
//     schedule that stops firing is a silent failure;
//   - no date that never comes (30 February, 31 April);
//   - a time zone suffix only as "UTC" or an IANA name (checked against
//     immich-render's own copy of the database; it must exist on the host
//     too); systemd also takes the host's local abbreviation (CEST), which
//     the rendering machine cannot know.

// Hint is what a valid schedule looks like.
const Hint = `a systemd calendar expression such as "daily", "*-*-* 03:30:00" or "Mon..Fri 02:00 Europe/Berlin"`

// calComp is one element of a component list: start, optional ..stop
// (-1 when absent) and optional /repeat (0 when absent). Seconds are in
// microseconds, as systemd keeps them.
type calComp struct {
	start, stop, repeat int
	pos                 int // byte offset in the expression, for messages
}

// calSpec is a parsed expression. A nil list means "*".
type calSpec struct {
	weekdays                        int // bit 0 = Monday; 0 = any
	year, month, day, hour, min, us []calComp
	endOfMonth                      bool
	utc                             bool
	zone                            string // an IANA name, "" for local time
	timeGiven                       int    // 0: no time, 2: HH:MM, 3: HH:MM:SS
}

// calError is a refusal: what is wrong and the byte offset where.
type calError struct {
	pos int
	msg string
}

const (
	usecPerSec = 1_000_000
	intMax     = 1<<31 - 1
	maxChain   = 240 // systemd's CALENDARSPEC_COMPONENTS_MAX
)

// Check returns "" when s is a calendar expression immich-render
// accepts, else why not, with the character position (1-based).
func Check(s string) string {
	_, err := parseCalendar(s)
	if err == nil {
		return ""
	}
	if f := strings.Fields(s); len(f) == 5 && strings.Trim(s, "0123456789*/,- ") == "" {
		return fmt.Sprintf("%q is a cron expression; systemd's calendar syntax differs (cron's \"30 2 * * *\" is \"*-*-* 02:30:00\")", s)
	}
	return fmt.Sprintf("%q is not a usable systemd calendar expression: %s (at character %d)", s, err.msg, err.pos+1)
}

// calParser walks the expression; s is cut at a time zone suffix, so
// offsets in it are offsets in the whole expression.
type calParser struct {
	s    string
	i    int
	spec calSpec
}

func (p *calParser) peek(k int) byte {
	if p.i+k < len(p.s) {
		return p.s[p.i+k]
	}
	return 0
}

func (p *calParser) fail(pos int, format string, a ...any) *calError {
	return &calError{pos: pos, msg: fmt.Sprintf(format, a...)}
}

// rest describes what is left from offset i, for messages.
func (p *calParser) rest(i int) string {
	if i >= len(p.s) {
		return "the end"
	}
	return fmt.Sprintf("%q", p.s[i:])
}

func parseCalendar(s string) (*calSpec, *calError) {
	p := &calParser{s: s}
	// A time zone at the end: " UTC" in any case, else the last word when
	// it is a zone name.
	if len(s) >= 4 && strings.EqualFold(s[len(s)-4:], " UTC") {
		p.s, p.spec.utc = s[:len(s)-4], true
	} else if sp := strings.LastIndexByte(s, ' '); sp >= 0 && knownZone(s[sp+1:]) {
		p.s, p.spec.zone = s[:sp], s[sp+1:]
	}
	if p.s == "" {
		return nil, p.fail(0, "it is empty")
	}
	if special(&p.spec, strings.ToLower(p.s)) {
		return &p.spec, nil
	}
	if err := p.weekdays(); err != nil {
		return nil, err
	}
	timeFollows, err := p.date()
	if err != nil {
		return nil, err
	}
	if timeFollows {
		if err := p.time(); err != nil {
			return nil, err
		}
	}
	if p.i < len(p.s) {
		return nil, p.unexpected(p.i)
	}
	if err := p.spec.valid(); err != nil {
		return nil, err
	}
	return &p.spec, nil
}

// special fills in one of systemd's named schedules.
func special(c *calSpec, name string) bool {
	zero := func() []calComp { return []calComp{{stop: -1}} }
	one := func() []calComp { return []calComp{{start: 1, stop: -1}} }
	c.timeGiven = 3
	switch name {
	case "minutely":
		c.us = zero()
	case "hourly":
		c.min, c.us = zero(), zero()
	case "daily":
		c.hour, c.min, c.us = zero(), zero(), zero()
	case "weekly":
		c.weekdays = 1
		c.hour, c.min, c.us = zero(), zero(), zero()
	case "monthly":
		c.day, c.hour, c.min, c.us = one(), zero(), zero(), zero()
	case "yearly", "annually", "anually":
		c.month, c.day, c.hour, c.min, c.us = one(), one(), zero(), zero(), zero()
	case "quarterly":
		c.month = []calComp{{start: 1, stop: -1}, {start: 4, stop: -1}, {start: 7, stop: -1}, {start: 10, stop: -1}}
		c.day, c.hour, c.min, c.us = one(), zero(), zero(), zero()
	case "semiannually", "semi-annually", "biannually", "bi-annually":
		c.month = []calComp{{start: 1, stop: -1}, {start: 7, stop: -1}}
		c.day, c.hour, c.min, c.us = one(), zero(), zero(), zero()
	default:
		c.timeGiven = 0
		return false
	}
	return true
}

// unexpected explains leftover text; a last word that looks like a time
// zone is most likely one immich-render does not know.
func (p *calParser) unexpected(i int) *calError {
	if p.s[i] == ' ' {
		word := strings.TrimLeft(p.s[i:], " ")
		if !strings.Contains(word, " ") && strings.ContainsAny(word, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
			return p.fail(i+1, "%q is not a time zone: use UTC or an IANA name such as Europe/Berlin (local abbreviations such as CEST depend on the host)", word)
		}
	}
	return p.fail(i, "unexpected %s", p.rest(i))
}

var weekdayNames = []struct {
	name string
	nr   int
}{
	{"Monday", 0}, {"Mon", 0}, {"Tuesday", 1}, {"Tue", 1}, {"Wednesday", 2}, {"Wed", 2},
	{"Thursday", 3}, {"Thu", 3}, {"Friday", 4}, {"Fri", 4}, {"Saturday", 5}, {"Sat", 5},
	{"Sunday", 6}, {"Sun", 6},
}

// weekdays reads an optional list of weekdays and ranges (Mon..Fri, or the
// old Mon-Fri), which ends at a space or the end.
func (p *calParser) weekdays() *calError {
	open := -1 // the start of a range waiting for its end
	first := true
	for {
		at := p.i
		found := -1
		for k, d := range weekdayNames {
			if len(p.s)-p.i >= len(d.name) && strings.EqualFold(p.s[p.i:p.i+len(d.name)], d.name) {
				found = k
				break
			}
		}
		if found < 0 {
			if first {
				return nil // no weekdays: a date or time follows
			}
			return p.fail(at, "expected a weekday (Mon, Tuesday, ...) at %s", p.rest(at))
		}
		d := weekdayNames[found]
		p.i += len(d.name)
		if c := p.peek(0); c != 0 && !strings.ContainsRune("-., ", rune(c)) {
			return p.fail(at, "%q is not a weekday", p.s[at:p.i+1])
		}
		p.spec.weekdays |= 1 << d.nr
		if open >= 0 {
			if open > d.nr {
				return p.fail(at, "the weekday range ends at %s, before it starts", d.name)
			}
			for j := open + 1; j < d.nr; j++ {
				p.spec.weekdays |= 1 << j
			}
		}
		switch p.peek(0) {
		case 0:
			return nil
		case ' ':
			p.skipSpaces()
			return nil
		case '.':
			if open >= 0 || p.peek(1) != '.' {
				return p.fail(p.i, "a weekday range is Mon..Fri, one range at a time")
			}
			open = d.nr
			p.i += 2
		case '-':
			if open >= 0 {
				return p.fail(p.i, "a weekday range is Mon..Fri, one range at a time")
			}
			open = d.nr
			p.i++
		case ',':
			open = -1
			p.i++
		}
		// A trailing comma is fine, an open range is not.
		if c := p.peek(0); c == 0 || c == ' ' {
			if open >= 0 {
				return p.fail(p.i, "the weekday range has no end")
			}
			p.skipSpaces()
			return nil
		}
		first = false
	}
}

func (p *calParser) skipSpaces() {
	for p.peek(0) == ' ' {
		p.i++
	}
}

// date reads an optional [YEAR-]MONTH-DAY (or MONTH~DAY, counted from the
// end of the month). It reports whether a time may follow.
func (p *calParser) date() (bool, *calError) {
	if p.i == len(p.s) {
		return true, nil
	}
	if p.peek(0) == '@' {
		return false, p.fail(p.i, "an @timestamp fires only once")
	}
	start := p.i
	first, err := p.chain(false)
	if err != nil {
		return false, err
	}
	if c := p.peek(0); c == 0 || c == ':' {
		p.i = start // it was the hour
		return true, nil
	}
	sep := p.peek(0)
	if sep == '~' {
		p.spec.endOfMonth = true
	} else if sep != '-' {
		return false, p.fail(p.i, "expected '-', '~' or ':' at %s", p.rest(p.i))
	}
	p.i++
	second, err := p.chain(false)
	if err != nil {
		return false, err
	}
	if c := p.peek(0); c == 0 || c == ' ' {
		p.skipSpaces()
		p.spec.month, p.spec.day = first, second
		return true, nil
	} else if p.spec.endOfMonth {
		return false, p.fail(p.i, "expected a space or the end after MONTH~DAY at %s", p.rest(p.i))
	}
	sep = p.peek(0)
	if sep == '~' {
		p.spec.endOfMonth = true
	} else if sep != '-' {
		return false, p.fail(p.i, "expected '-' or '~' at %s", p.rest(p.i))
	}
	p.i++
	third, err := p.chain(false)
	if err != nil {
		return false, err
	}
	if c := p.peek(0); c != 0 && c != ' ' {
		return false, p.fail(p.i, "expected a space or the end after the date at %s", p.rest(p.i))
	}
	p.skipSpaces()
	p.spec.year, p.spec.month, p.spec.day = first, second, third
	return true, nil
}

// time reads an optional HOUR:MINUTE[:SECOND]; without it, 00:00:00.
func (p *calParser) time() *calError {
	if p.i == len(p.s) {
		return nil
	}
	var err *calError
	if p.spec.hour, err = p.chain(false); err != nil {
		return err
	}
	if p.peek(0) != ':' {
		return p.fail(p.i, "expected ':' after the hour at %s", p.rest(p.i))
	}
	p.i++
	if p.spec.min, err = p.chain(false); err != nil {
		return err
	}
	p.spec.timeGiven = 2
	if p.i == len(p.s) {
		return nil
	}
	if p.peek(0) != ':' {
		return p.unexpected(p.i)
	}
	p.i++
	if p.spec.us, err = p.chain(true); err != nil {
		return err
	}
	p.spec.timeGiven = 3
	return nil
}

// chain reads "*" or a comma-separated list of START[..STOP][/REPEAT].
func (p *calParser) chain(usec bool) ([]calComp, *calError) {
	if p.peek(0) == '*' {
		p.i++
		if usec {
			return []calComp{{start: 0, stop: -1, repeat: usecPerSec, pos: p.i - 1}}, nil
		}
		return nil, nil
	}
	var out []calComp
	for {
		if len(out) > maxChain {
			return nil, p.fail(p.i, "more than %d values in one list", maxChain)
		}
		c := calComp{stop: -1, pos: p.i}
		var err *calError
		if c.start, err = p.decimal(usec); err != nil {
			return nil, err
		}
		if p.peek(0) == '.' && p.peek(1) == '.' {
			p.i += 2
			if c.stop, err = p.decimal(usec); err != nil {
				return nil, err
			}
			c.repeat = 1
			if usec {
				c.repeat = usecPerSec
			}
		}
		if p.peek(0) == '/' {
			p.i++
			at := p.i
			if c.repeat, err = p.decimal(usec); err != nil {
				return nil, err
			}
			if c.repeat == 0 {
				return nil, p.fail(at, "a repetition of 0")
			}
		} else if usec && c.stop >= 0 && c.start+c.repeat > c.stop {
			// Without a repetition a range of seconds steps by whole
			// seconds, so it must span one.
			return nil, p.fail(c.pos, "a range of seconds shorter than a second")
		}
		if ch := p.peek(0); ch != 0 && !strings.ContainsRune(" ,-~:", rune(ch)) {
			return nil, p.fail(p.i, "unexpected %s", p.rest(p.i))
		}
		out = append(out, c)
		if p.peek(0) != ',' {
			return out, nil
		}
		p.i++
	}
}

// decimal reads a number; seconds (usec) may have a fraction, which is
// kept to microseconds and rounded on the seventh digit.
func (p *calParser) decimal(usec bool) (int, *calError) {
	at := p.i
	if c := p.peek(0); c < '0' || c > '9' {
		return 0, p.fail(at, "expected a number or * at %s", p.rest(at))
	}
	var v uint64
	tooLarge := false
	for c := p.peek(0); c >= '0' && c <= '9'; c = p.peek(0) {
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			tooLarge = true
		}
		v = v*10 + d
		p.i++
	}
	if tooLarge {
		return 0, p.fail(at, "%s is too large", p.s[at:p.i])
	}
	if usec {
		if v > (1<<64-1)/usecPerSec {
			return 0, p.fail(at, "%s is too large", p.s[at:p.i])
		}
		v *= usecPerSec
		if p.peek(0) == '.' && p.peek(1) != '.' {
			p.i++
			var frac uint64
			k := 0
			for ; k < 6; k++ {
				c := p.peek(0)
				if c < '0' || c > '9' {
					if k == 0 {
						return 0, p.fail(p.i, "expected digits after the decimal point")
					}
					break
				}
				frac = frac*10 + uint64(c-'0')
				p.i++
			}
			for ; k < 6; k++ {
				frac *= 10
			}
			if c := p.peek(0); c >= '5' && c <= '9' {
				frac++
			}
			for c := p.peek(0); c >= '0' && c <= '9'; c = p.peek(0) {
				p.i++
			}
			v += frac
		}
	}
	if v > intMax {
		return 0, p.fail(at, "%s is too large", p.s[at:p.i])
	}
	return int(v), nil
}

// valid checks every value against its field's range, as systemd does,
// then refuses what would never fire or fire once.
func (c *calSpec) valid() *calError {
	for _, f := range []struct {
		name     string
		chain    []calComp
		from, to int
		eom      bool
	}{
		{"year", c.year, 1970, 2199, false},
		{"month", c.month, 1, 12, false},
		{"day", c.day, 1, 31, c.endOfMonth},
		{"hour", c.hour, 0, 23, false},
		{"minute", c.min, 0, 59, false},
		{"second", c.us, 0, 60*usecPerSec - 1, false},
	} {
		to := f.to
		if f.eom {
			to -= 3 // at most 28 days from the end of the month
		}
		for _, v := range f.chain {
			start, stop, repeat := v.start, v.stop, v.repeat
			if f.name == "year" {
				start, stop = fixYear(start), fixYear(stop)
			}
			// systemd first shortens a range to a multiple of its
			// repetition, and makes a range that cannot repeat, or has
			// one value, a single value.
			if stop > start && repeat > 0 {
				stop -= (stop - start) % repeat
			}
			if stop > start && repeat > 0 && start+repeat > stop || start == stop {
				stop, repeat = -1, 0
			}
			show := func(v int) string {
				if f.name == "second" {
					return fmt.Sprintf("%g", float64(v)/usecPerSec)
				}
				return fmt.Sprint(v)
			}
			var why string
			switch {
			case start < f.from || start > to:
				why = fmt.Sprintf("%s is not a valid %s (%s)", show(start), f.name, rangeText(f.name, f.from, to))
			case stop >= 0 && (stop < f.from || stop > to):
				why = fmt.Sprintf("%s is not a valid %s (%s)", show(stop), f.name, rangeText(f.name, f.from, to))
			case repeat > to-f.from || stop < 0 && !f.eom && start+repeat > to || stop < 0 && f.eom && start-repeat < f.from:
				why = fmt.Sprintf("the repetition /%s never fits in a %s (%s)", show(repeat), f.name, rangeText(f.name, f.from, to))
			case stop >= 0 && start+repeat > stop:
				why = fmt.Sprintf("the %s range %s..%s runs backwards", f.name, show(start), show(stop))
			}
			if why != "" {
				return &calError{pos: v.pos, msg: why}
			}
		}
	}
	if c.year != nil {
		return &calError{pos: c.year[0].pos, msg: "a schedule with a year stops firing; leave the year out (*-MONTH-DAY or MONTH-DAY)"}
	}
	if !c.someDay() {
		return &calError{pos: c.day[0].pos, msg: "no month in the schedule has that day, so it never fires"}
	}
	return nil
}

func fixYear(y int) int {
	switch {
	case y >= 0 && y < 70:
		return y + 2000
	case y >= 70 && y < 100:
		return y + 1900
	}
	return y
}

func rangeText(field string, from, to int) string {
	if field == "second" {
		return "0 to 59.999999"
	}
	return fmt.Sprintf("%d to %d", from, to)
}

// values expands a valid chain over from..to.
func values(chain []calComp, from, to int) []bool {
	set := make([]bool, to+1)
	if chain == nil {
		for v := from; v <= to; v++ {
			set[v] = true
		}
		return set
	}
	for _, c := range chain {
		stop := c.stop
		if stop < 0 {
			stop = c.start
			if c.repeat > 0 {
				stop = to
			}
		}
		step := max(c.repeat, 1)
		for v := c.start; v <= stop && v <= to; v += step {
			set[v] = true
		}
	}
	return set
}

// someDay reports whether a month of the schedule has one of its days.
// Weekdays never rule a date out: each falls on every weekday in some year.
func (c *calSpec) someDay() bool {
	if c.endOfMonth || c.day == nil {
		return true // every month has its last 28 days
	}
	days := values(c.day, 1, 31)
	months := values(c.month, 1, 12)
	length := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	for m := 1; m <= 12; m++ {
		for d := 1; months[m] && d <= length[m]; d++ {
			if days[d] {
				return true
			}
		}
	}
	return false
}

// knownZone reports whether name is a time zone the host's systemd knows
// by file (/usr/share/zoneinfo/NAME), as far as the IANA database tells.
func knownZone(name string) bool {
	if name == "" || name == "Local" || strings.HasPrefix(name, "/") || strings.Contains(name, "..") ||
		strings.IndexFunc(name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-_+", r))
		}) >= 0 {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}
