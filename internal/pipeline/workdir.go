package pipeline

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// buildPathUnsafe says, for each ASCII character a build path must not hold, what make or the
// shell does with it. The kernel's Makefiles put the source and build paths unquoted into make
// rules, function calls ($(call ...,$@)) and shell commands, and quoted into
// $(shell mkdir -p "$(KBUILD_OUTPUT)"): a space or colon fails the build late, after fetch and
// patch; a quote, backtick, $ or ; runs what follows as a command. Letters, digits (any
// script's) and / . _ - + @ ~ pass through all of them unchanged.
var buildPathUnsafe = map[rune]string{
	' ':  "make and the shell split words there",
	'\t': "make and the shell split words there",
	'\n': "make ends the line there",
	'\r': "make ends the line there",
	':':  "make reads a rule's target there",
	'=':  "make reads a variable assignment there",
	'#':  "make starts a comment there",
	'$':  "make expands a variable there, and the shell too",
	'%':  "make's pattern rules match there",
	',':  "make splits a function's arguments there",
	'\\': "make and the shell read it as an escape",
	'\'': "the shell's quoting ends there, running what follows",
	'"':  "the shell's quoting ends there, running what follows (the kernel's $(shell mkdir -p \"$(KBUILD_OUTPUT)\"))",
	'`':  "the shell runs what follows as a command",
	';':  "the shell runs what follows as a command",
	'&':  "the shell runs what follows as a command",
	'|':  "the shell runs what follows as a command",
	'<':  "the shell redirects there",
	'>':  "the shell redirects there",
	'(':  "make and the shell group there",
	')':  "make and the shell group there",
	'*':  "the shell expands a wildcard there",
	'?':  "the shell expands a wildcard there",
	'[':  "the shell expands a wildcard there",
	']':  "the shell expands a wildcard there",
	'{':  "the shell expands braces there",
	'}':  "the shell expands braces there",
	'!':  "the shell expands history there",
	'^':  "some shells read a pipe there",
}

// CheckBuildPath refuses a path the kernel is built in (the work dir) that make or the shell
// would split, misread or run, naming the character and its position (counted in characters
// from 1), before anything is fetched.
func CheckBuildPath(what, path string) error {
	pos := 0
	for i, r := range path {
		pos++
		reason, bad := buildPathUnsafe[r]
		_, size := utf8.DecodeRuneInString(path[i:])
		char := path[i : i+size]
		switch {
		case r == utf8.RuneError && size == 1:
			reason, bad = "it is not UTF-8", true
		case !bad && (unicode.IsControl(r) || r > unicode.MaxASCII && !unicode.IsLetter(r) && !unicode.IsNumber(r) && !unicode.IsMark(r)):
			reason, bad = "make and the shell cannot be trusted to pass it through", true
		}
		if bad {
			return fmt.Errorf("%s %q holds %q at character %d, which the kernel's build cannot carry: %s; choose a path of letters, digits and / . _ - + @ ~ (--work-dir)",
				what, path, char, pos, reason)
		}
	}
	return nil
}
