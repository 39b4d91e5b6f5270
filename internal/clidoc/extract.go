// Package clidoc finds the command lines of our programs in Markdown
// documents and checks each against the program's real command tree
// ([cli.Command]): the command exists, every flag exists for it, typed
// values parse, required flags and arguments are there. It keeps the
// operator's guide (docs/operations.md), README.md and the validator
// client's guide from naming a command or a flag that does not exist, as
// each cmd/* package's tests call it with its own tree. It is for tests
// only; it reads documents, never runs a command.
package clidoc

import (
	"path"
	"regexp"
	"strings"
)

// Invocation is one command line of a program found in a document.
type Invocation struct {
	// File is the document's name as given to [Extract]; Line the line
	// (from 1) where the command starts.
	File string
	Line int
	// Program is the program's name (the basename of the word that ran it).
	Program string
	// Args are the words after the program's name, quotes removed,
	// redirections dropped; a word holding a command substitution keeps
	// it as written ("$(date +%F)").
	Args []string
	// Inline is set for a command in an inline code span of the prose,
	// which may be a partial reference ("see rampartctl tls sign --days")
	// rather than a command to type; fenced code blocks are commands.
	Inline bool
	// Text is the command as found, for messages.
	Text string
}

// shellLanguages are the info strings of fenced blocks read as shell; an
// unlabelled block counts too. Other blocks (yaml, ini) hold no commands.
var shellLanguages = map[string]bool{"": true, "sh": true, "bash": true, "shell": true, "console": true, "shell-session": true, "sh-session": true}

// Extract returns every invocation of one of programs in the Markdown
// document md (named file in the result): the commands of fenced shell
// blocks, with line continuations (a trailing backslash, |, && or ||),
// comments, sudo, environment assignments, pipes, lists and command
// substitutions handled and here-documents skipped; and the inline code
// spans of the prose that start with a program.
func Extract(file string, md []byte, programs ...string) []Invocation {
	want := map[string]bool{}
	for _, p := range programs {
		want[p] = true
	}
	lines := strings.Split(strings.ReplaceAll(string(md), "\r\n", "\n"), "\n")
	var out []Invocation
	var prose []string // prose lines, fenced content blanked, so spans keep their line numbers
	for i := 0; i < len(lines); i++ {
		indent, fence, info, ok := openingFence(lines[i])
		if !ok {
			prose = append(prose, lines[i])
			continue
		}
		prose = append(prose, "")
		start := i + 1
		end := start
		for end < len(lines) && !closesFence(lines[end], fence) {
			end++
		}
		lang := strings.ToLower(strings.Fields(info + " x")[0])
		if lang == "x" {
			lang = ""
		}
		if shellLanguages[lang] {
			body := make([]string, 0, end-start)
			for _, l := range lines[start:end] {
				body = append(body, dedent(l, indent))
			}
			out = append(out, shellBlock(file, start+1, body, want)...)
		}
		for range lines[start:min(end+1, len(lines))] {
			prose = append(prose, "")
		}
		i = end
	}
	out = append(out, inlineSpans(file, prose, want)...)
	return out
}

// openingFence reports whether line opens a fenced code block: its
// indentation, the fence (``` or ~~~, three or more) and the info string.
func openingFence(line string) (indent int, fence, info string, ok bool) {
	trimmed := strings.TrimLeft(line, " ")
	indent = len(line) - len(trimmed)
	for _, c := range []string{"`", "~"} {
		n := len(trimmed) - len(strings.TrimLeft(trimmed, c))
		if n >= 3 {
			info = strings.TrimSpace(trimmed[n:])
			if c == "`" && strings.Contains(info, "`") {
				return 0, "", "", false
			}
			return indent, trimmed[:n], info, true
		}
	}
	return 0, "", "", false
}

func closesFence(line, fence string) bool {
	t := strings.TrimSpace(line)
	return strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == ""
}

// dedent removes up to n leading spaces: the fence's indentation inside a
// list item.
func dedent(line string, n int) string {
	for n > 0 && strings.HasPrefix(line, " ") {
		line, n = line[1:], n-1
	}
	return line
}

var heredoc = regexp.MustCompile(`<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?`)

// shellBlock joins a block's lines into logical command lines (first line
// number first) and extracts the invocations from each.
func shellBlock(file string, firstLine int, body []string, want map[string]bool) []Invocation {
	var out []Invocation
	var cur strings.Builder
	curLine := 0
	for i := 0; i < len(body); i++ {
		l := strings.TrimRight(body[i], " \t")
		if cur.Len() == 0 {
			t := strings.TrimLeft(l, " \t")
			if t == "" || strings.HasPrefix(t, "#") {
				continue
			}
			l = strings.TrimPrefix(t, "$ ") // a console block's prompt
			curLine = firstLine + i
		}
		if strings.HasSuffix(l, `\`) && !strings.HasSuffix(l, `\\`) {
			cur.WriteString(strings.TrimSuffix(l, `\`))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(l)
		code := stripComment(cur.String())
		if t := strings.TrimSpace(code); strings.HasSuffix(t, "|") || strings.HasSuffix(t, "&&") {
			cur.WriteString(" ")
			continue
		}
		text := cur.String()
		cur.Reset()
		if m := heredoc.FindStringSubmatch(code); m != nil && !strings.Contains(code, "<<<") {
			for i+1 < len(body) && strings.TrimSpace(body[i+1]) != m[1] {
				i++
			}
			i++ // the terminator
		}
		out = append(out, commands(file, curLine, text, false, want)...)
	}
	if cur.Len() > 0 {
		out = append(out, commands(file, curLine, cur.String(), false, want)...)
	}
	return out
}

// stripComment cuts a shell comment (a # starting a word, outside quotes).
func stripComment(s string) string {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			} else if c == '\\' && q == '"' {
				i++
			}
		case c == '\\':
			i++
		case c == '\'' || c == '"':
			q = c
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i]
		}
	}
	return s
}

// inlineSpans returns the invocations in the inline code spans of prose
// (the document with fenced blocks blanked). A span may cross a line break.
func inlineSpans(file string, prose []string, want map[string]bool) []Invocation {
	text := strings.Join(prose, "\n")
	var out []Invocation
	line := 1
	for i := 0; i < len(text); {
		if text[i] == '\n' {
			line++
			i++
			continue
		}
		if text[i] != '`' {
			i++
			continue
		}
		n := 0
		for i+n < len(text) && text[i+n] == '`' {
			n++
		}
		end := closingRun(text[i+n:], n)
		if end < 0 {
			i += n
			continue
		}
		span := text[i+n : i+n+end]
		out = append(out, commands(file, line, strings.ReplaceAll(span, "\n", " "), true, want)...)
		line += strings.Count(span, "\n")
		i += n + end + n
	}
	return out
}

// closingRun returns where in s the first run of exactly n backticks
// starts, or -1.
func closingRun(s string, n int) int {
	for i := 0; i < len(s); {
		if s[i] != '`' {
			i++
			continue
		}
		j := i
		for j < len(s) && s[j] == '`' {
			j++
		}
		if j-i == n {
			return i
		}
		i = j
	}
	return -1
}

// commands splits one logical command line into simple commands and
// returns those that run one of the programs, command substitutions
// included.
func commands(file string, line int, text string, inline bool, want map[string]bool) []Invocation {
	words, subs := lex(text)
	var out []Invocation
	for _, simple := range words {
		if prog, args, ok := invocation(simple, want); ok {
			out = append(out, Invocation{File: file, Line: line, Program: prog, Args: args, Inline: inline, Text: strings.Join(strings.Fields(text), " ")})
		}
	}
	for _, s := range subs {
		out = append(out, commands(file, line, s, inline, want)...)
	}
	return out
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// invocation reports whether a simple command's words run one of the
// programs: after environment assignments and the wrappers sudo, env,
// exec, time, nohup and command.
func invocation(words []string, want map[string]bool) (string, []string, bool) {
	for len(words) > 0 {
		w := words[0]
		switch {
		case assignment.MatchString(w):
			words = words[1:]
		case w == "sudo":
			words = words[1:]
			for len(words) > 0 && strings.HasPrefix(words[0], "-") {
				opt := words[0]
				words = words[1:]
				if (opt == "-u" || opt == "-g") && len(words) > 0 {
					words = words[1:]
				}
				if opt == "--" {
					break
				}
			}
		case w == "env" || w == "exec" || w == "time" || w == "nohup" || w == "command":
			words = words[1:]
		default:
			if p := path.Base(w); want[p] {
				return p, words[1:], true
			}
			return "", nil, false
		}
	}
	return "", nil, false
}

// lex splits a shell command line into simple commands (at |, ||, &&, ;,
// & and parentheses; a | inside a usage's brackets separates
// alternatives), each a list of words with quotes removed and
// redirections (with their targets) dropped, and returns the text of
// every command substitution $(...) found, which stays in its word as
// written. A # starting a word ends the line.
func lex(s string) (cmds [][]string, subs []string) {
	var cur []string
	var w strings.Builder
	inWord := false
	dropNext := false // the next word is a redirection's target
	optional := 0     // depth of a usage's optional part, "[--a X | --b Y]"
	endWord := func() {
		if inWord {
			word := w.String()
			if dropNext {
				dropNext = false
			} else {
				cur = append(cur, word)
			}
			optional += len(word) - len(strings.TrimLeft(word, "[")) - (len(word) - len(strings.TrimRight(word, "]")))
		}
		w.Reset()
		inWord = false
	}
	endCmd := func() {
		endWord()
		if len(cur) > 0 {
			cmds = append(cmds, cur)
		}
		cur = nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			endWord()
		case c == '#' && !inWord:
			endCmd()
			return cmds, subs
		case c == '\\' && i+1 < len(s):
			w.WriteByte(s[i+1])
			inWord = true
			i++
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				j = len(s) - i - 1
			}
			w.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case c == '"':
			inWord = true
			for i++; i < len(s) && s[i] != '"'; i++ {
				switch {
				case s[i] == '\\' && i+1 < len(s):
					i++
					w.WriteByte(s[i])
				case s[i] == '$' && i+1 < len(s) && s[i+1] == '(':
					inner, n := substitution(s[i:])
					subs = append(subs, inner)
					w.WriteString(s[i : i+n])
					i += n - 1
				default:
					w.WriteByte(s[i])
				}
			}
		case c == '$' && i+1 < len(s) && s[i+1] == '(':
			inner, n := substitution(s[i:])
			subs = append(subs, inner)
			w.WriteString(s[i : i+n])
			inWord = true
			i += n - 1
		case c == '|' && optional > 0: // alternatives in a usage, not a pipe
			endWord()
		case c == '|' || c == ';' || c == '(' || c == ')':
			endCmd()
		case c == '&' && i+1 < len(s) && s[i+1] == '>': // &> and &>>: redirect both
			endWord()
			i++
			for i+1 < len(s) && s[i+1] == '>' {
				i++
			}
			dropNext = true
		case c == '&':
			endCmd()
		case c == '<' || c == '>':
			if inWord && isDigits(w.String()) { // 2>...: a file descriptor
				w.Reset()
				inWord = false
			}
			endWord()
			for i+1 < len(s) && (s[i+1] == '<' || s[i+1] == '>' || s[i+1] == '-') {
				i++
			}
			if i+1 < len(s) && s[i+1] == '&' { // >&2, 2>&1
				i++
				for i+1 < len(s) && (isDigits(s[i+1:i+2]) || s[i+1] == '-') {
					i++
				}
				continue
			}
			dropNext = true
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	endCmd()
	return cmds, subs
}

// substitution returns the text inside the $( ... ) that s starts with and
// the length of the whole, counting nested parentheses outside quotes.
func substitution(s string) (string, int) {
	depth := 0
	var q byte
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '\'' || c == '"':
			q = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return s[2:i], i + 1
			}
		}
	}
	return s[2:], len(s)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
