package install

import (
	"strings"
)

// Config is a .wslconfig read the way WSL reads it (src/shared/configfile/configfile.cpp in
// microsoft/WSL), so that an edit changes exactly what WSL will see and nothing else:
//   - a section header is `[name]`, the name a letter then letters or digits, nothing inside the
//     brackets but the name, then only spaces or a `#` comment; any other `[` line is skipped and
//     does not end the section before it;
//   - a key line is `name = value`, the name a letter then letters or digits; a line starting
//     with anything else (`;` included) is skipped; section and key names ignore case;
//   - a value ends at the line's end or an unquoted `#`; `"` toggles quoting and is dropped;
//     `\\`, `\"`, `\b`, `\n`, `\t` are escapes, a `\` ending the line continues the value on the
//     next one, any other escape makes WSL skip the line; trailing spaces are dropped;
//   - the first valid occurrence of a key counts, later ones are ignored (with a warning).
//
// The text is kept line by line with each line's own ending, so CRLF stays CRLF.
type Config struct {
	lines []line
	nl    string // the ending for added lines: the file's first one
}

type line struct{ text, end string }

// entry is one key = value that WSL takes: lines first..last (more than one after a `\`
// continuation), the text before the value and, on a one-line entry, after it.
type entry struct {
	section, key   string
	first, last    int
	prefix, suffix string
	value          string
	valid          bool // false: WSL skips the line (a bad escape, an open quote)
	dangling       bool // the value ends in a continuation with no line after it
}

// ParseConfig splits a .wslconfig's text into lines, keeping their endings.
func ParseConfig(text string) *Config {
	c := &Config{nl: "\n"}
	for text != "" {
		i := strings.IndexByte(text, '\n')
		if i < 0 {
			c.lines = append(c.lines, line{text: text})
			break
		}
		l := line{text: text[:i], end: "\n"}
		if strings.HasSuffix(l.text, "\r") {
			l.text, l.end = l.text[:i-1], "\r\n"
		}
		if len(c.lines) == 0 || c.lines[0].end == "" {
			c.nl = l.end
		}
		c.lines = append(c.lines, l)
		text = text[i+1:]
	}
	return c
}

// String is the text, every line with its own ending.
func (c *Config) String() string {
	var b strings.Builder
	for _, l := range c.lines {
		b.WriteString(l.text + l.end)
	}
	return b.String()
}

// Get is the value WSL reads for key in section, and the lines that say it (joined by "\n").
func (c *Config) Get(section, key string) (value, lines string, ok bool) {
	e := c.find(section, key)
	if e == nil {
		return "", "", false
	}
	texts := make([]string, 0, e.last-e.first+1)
	for _, l := range c.lines[e.first : e.last+1] {
		texts = append(texts, l.text)
	}
	return e.value, strings.Join(texts, "\n"), true
}

// Set gives key the value in section, written as WSL reads it (each backslash doubled; the
// value must need no other escaping: see checkWSLPath). The first occurrence is replaced where
// it stands, keeping its indentation, spacing and trailing comment; later ones, which WSL
// ignores, are removed. A missing key is added after the section's last non-blank line, a
// missing section at the end.
func (c *Config) Set(section, key, value string) {
	text := key + "=" + strings.ReplaceAll(value, `\`, `\\`)
	if e := c.find(section, key); e != nil && e.first == e.last {
		text = e.prefix + strings.ReplaceAll(value, `\`, `\\`) + e.suffix
	}
	c.setLines(section, key, strings.Split(text, "\n"))
}

// Remove deletes every line that gives key a value in section.
func (c *Config) Remove(section, key string) {
	es := c.entries()
	for i := len(es) - 1; i >= 0; i-- {
		if e := es[i]; matches(e, section, key) {
			c.lines = append(c.lines[:e.first], c.lines[e.last+1:]...)
		}
	}
}

// setLines puts texts where key's first occurrence in section stands (removing the others), or
// where Set adds a missing key.
func (c *Config) setLines(section, key string, texts []string) {
	at, end := -1, c.nl
	if e := c.find(section, key); e != nil {
		at, end = e.first, c.lines[e.last].end
		c.Remove(section, key)
	} else if at = c.sectionEnd(section); at < 0 {
		c.terminateLast()
		if n := len(c.lines); n > 0 && strings.TrimSpace(c.lines[n-1].text) != "" {
			c.lines = append(c.lines, line{end: c.nl})
		}
		c.lines = append(c.lines, line{text: "[" + section + "]", end: c.nl})
		at = len(c.lines)
	}
	added := make([]line, len(texts))
	for i, t := range texts {
		added[i] = line{text: t, end: c.nl}
	}
	added[len(added)-1].end = end
	if at == len(c.lines) && at > 0 && c.lines[at-1].end == "" {
		// Added at the very end of a file whose last line had no ending: it keeps having none.
		c.lines[at-1].end, added[len(added)-1].end = c.nl, ""
	}
	c.lines = append(c.lines[:at], append(added, c.lines[at:]...)...)
}

func (c *Config) terminateLast() {
	if n := len(c.lines); n > 0 && c.lines[n-1].end == "" {
		c.lines[n-1].end = c.nl
	}
}

// sectionEnd is where a key added to section goes: after the last non-blank line of the first
// such section (a continued value's lines included); -1 when the file has none.
func (c *Config) sectionEnd(section string) int {
	spans := map[int]entry{}
	for _, e := range c.scan() {
		spans[e.first] = e
	}
	at, in := -1, false
	for i := 0; i < len(c.lines); i++ {
		if e, ok := spans[i]; ok {
			if in {
				at = e.last + 1
			}
			if in && e.dangling {
				at = e.first // a value continuing past the end would take in a line added after it
			}
			i = e.last
			continue
		}
		if name, ok := parseHeader(c.lines[i].text); ok {
			if in {
				break
			}
			if in = strings.EqualFold(name, section); in {
				at = i + 1
			}
			continue
		}
		if in && strings.TrimSpace(c.lines[i].text) != "" {
			at = i + 1
		}
	}
	return at
}

func (c *Config) find(section, key string) *entry {
	for _, e := range c.entries() {
		if matches(e, section, key) {
			return &e
		}
	}
	return nil
}

func matches(e entry, section, key string) bool {
	return strings.EqualFold(e.section, section) && strings.EqualFold(e.key, key)
}

// entries are the key lines WSL takes, in order, with the section each is in.
func (c *Config) entries() []entry {
	var out []entry
	for _, e := range c.scan() {
		if e.valid {
			out = append(out, e)
		}
	}
	return out
}

// scan finds every key line, with the lines its value spans, whether WSL takes it or skips it.
func (c *Config) scan() []entry {
	var out []entry
	section := ""
	for i := 0; i < len(c.lines); i++ {
		text := c.lines[i].text
		if name, ok := parseHeader(text); ok {
			section = name
			continue
		}
		key, at, ok := parseKey(text)
		if !ok {
			continue
		}
		e := entry{section: section, key: key, first: i, prefix: text[:at]}
		c.parseValue(&e, at)
		out = append(out, e)
		i = e.last // a continued value's lines are not keys
	}
	return out
}

// parseValue reads e's value, starting at byte at of its first line, as WSL does: the value, the
// last line it spans and, for a one-line value, the text after it (spaces and a comment). WSL
// skips the entry (valid false) on a bad escape or an open quote. dangling: the value's last line
// ends in a continuation with no line after it, so a line added there would join the value.
func (c *Config) parseValue(e *entry, at int) {
	var v []byte
	trimmed, i, inQuote := 0, e.first, false
	s, j, end := c.lines[i].text, at, at
	for e.last = i; j < len(s); e.last = i {
		ch := s[j]
		switch {
		case ch == '"':
			inQuote = !inQuote
		case ch == '\\' && j+1 == len(s):
			if c.lines[i].end == "" {
				e.dangling = true // invalid as it stands, a continuation once a line follows
				return
			}
			if i+1 == len(c.lines) {
				e.dangling, j = true, len(s)
				continue
			}
			i++
			s, j = c.lines[i].text, 0
			continue
		case ch == '\\':
			j++
			esc, known := escapes[s[j]]
			if !known {
				return
			}
			v = append(v, esc)
		case ch == '#' && !inQuote:
			j = len(s)
			continue
		default:
			v = append(v, ch)
		}
		j++
		if ch != ' ' && ch != '\t' {
			trimmed, end = len(v), j
		}
	}
	if inQuote {
		return
	}
	if i == e.first && !e.dangling {
		e.suffix = s[end:]
	}
	e.value, e.valid = string(v[:trimmed]), true
}

// parseHeader is the name of a section header line as WSL accepts it.
func parseHeader(text string) (string, bool) {
	t := strings.TrimLeft(text, " \t")
	if len(t) < 3 || t[0] != '[' || !isAlpha(t[1]) {
		return "", false
	}
	j := 2
	for j < len(t) && isAlnum(t[j]) {
		j++
	}
	if j == len(t) || t[j] != ']' {
		return "", false
	}
	rest := strings.TrimLeft(t[j+1:], " \t")
	if rest != "" && rest[0] != '#' {
		return "", false
	}
	return t[1:j], true
}

// parseKey is the key of a `key = value` line as WSL accepts it, and where its value starts.
func parseKey(text string) (key string, valueAt int, ok bool) {
	i := len(text) - len(strings.TrimLeft(text, " \t"))
	if i == len(text) || !isAlpha(text[i]) {
		return "", 0, false
	}
	j := i + 1
	for j < len(text) && isAlnum(text[j]) {
		j++
	}
	key = text[i:j]
	for j < len(text) && (text[j] == ' ' || text[j] == '\t') {
		j++
	}
	if j == len(text) || text[j] != '=' {
		return "", 0, false
	}
	j++
	for j < len(text) && (text[j] == ' ' || text[j] == '\t') {
		j++
	}
	return key, j, true
}

// changedKey is the first key, other than those in except, that WSL reads differently in a and
// b ("section.key"); empty when there is none.
func changedKey(a, b *Config, except ...string) string {
	values := func(c *Config) map[string]string {
		m := map[string]string{}
		for _, e := range c.entries() {
			id := strings.ToLower(e.section + "." + e.key)
			if _, seen := m[id]; !seen {
				m[id] = e.value
			}
		}
		for _, k := range except {
			delete(m, strings.ToLower(k))
		}
		return m
	}
	va, vb := values(a), values(b)
	for id, v := range va {
		if w, ok := vb[id]; !ok || w != v {
			return id
		}
	}
	for id := range vb {
		if _, ok := va[id]; !ok {
			return id
		}
	}
	return ""
}

// escapes are the characters WSL's parser takes after a backslash, and what they stand for.
var escapes = map[byte]byte{'\\': '\\', '"': '"', 'b': '\b', 'n': '\n', 't': '\t'}

func isAlpha(b byte) bool { return 'a' <= b|0x20 && b|0x20 <= 'z' }
func isAlnum(b byte) bool { return isAlpha(b) || '0' <= b && b <= '9' }
