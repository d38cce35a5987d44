package ui

import "strings"

// diffLine is one line of a line diff: kept (' '), removed ('-') or added
// ('+'), with its number in the old and the new text (0 when absent).
type diffLine struct {
	Op       string
	Text     string
	Old, New int
}

// maxDiffCells bounds the table of the longest common subsequence; beyond
// it the differing middle is shown as removed, then added.
const maxDiffCells = 4 << 20

// lineDiff compares two texts line by line: the lines of a longest common
// subsequence are kept, the others removed or added, removals first.
func lineDiff(a, b string) []diffLine {
	al, bl := splitLines(a), splitLines(b)
	// Common head and tail are kept without the table.
	pre := 0
	for pre < len(al) && pre < len(bl) && al[pre] == bl[pre] {
		pre++
	}
	suf := 0
	for suf < len(al)-pre && suf < len(bl)-pre && al[len(al)-1-suf] == bl[len(bl)-1-suf] {
		suf++
	}
	out := make([]diffLine, 0, len(al)+len(bl))
	for i := 0; i < pre; i++ {
		out = append(out, diffLine{Op: " ", Text: al[i], Old: i + 1, New: i + 1})
	}
	am, bm := al[pre:len(al)-suf], bl[pre:len(bl)-suf]
	out = append(out, diffMiddle(am, bm, pre)...)
	for i := 0; i < suf; i++ {
		oi, ni := len(al)-suf+i, len(bl)-suf+i
		out = append(out, diffLine{Op: " ", Text: al[oi], Old: oi + 1, New: ni + 1})
	}
	return out
}

// diffMiddle diffs the lines between the common head (of length off) and tail.
func diffMiddle(a, b []string, off int) []diffLine {
	var out []diffLine
	if len(a)*len(b) > maxDiffCells {
		for i, s := range a {
			out = append(out, diffLine{Op: "-", Text: s, Old: off + i + 1})
		}
		for j, s := range b {
			out = append(out, diffLine{Op: "+", Text: s, New: off + j + 1})
		}
		return out
	}
	// l[i][j] is the length of a longest common subsequence of a[i:] and b[j:].
	w := len(b) + 1
	l := make([]int32, (len(a)+1)*w)
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			switch {
			case a[i] == b[j]:
				l[i*w+j] = l[(i+1)*w+j+1] + 1
			case l[(i+1)*w+j] >= l[i*w+j+1]:
				l[i*w+j] = l[(i+1)*w+j]
			default:
				l[i*w+j] = l[i*w+j+1]
			}
		}
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && a[i] == b[j]:
			out = append(out, diffLine{Op: " ", Text: a[i], Old: off + i + 1, New: off + j + 1})
			i++
			j++
		case j == len(b) || (i < len(a) && l[(i+1)*w+j] >= l[i*w+j+1]):
			out = append(out, diffLine{Op: "-", Text: a[i], Old: off + i + 1})
			i++
		default:
			out = append(out, diffLine{Op: "+", Text: b[j], New: off + j + 1})
			j++
		}
	}
	return out
}

// splitLines splits a text into lines; a final newline ends the last line
// rather than starting an empty one.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// diffCounts are the lines a diff adds and removes.
func diffCounts(d []diffLine) (added, removed int) {
	for _, l := range d {
		switch l.Op {
		case "+":
			added++
		case "-":
			removed++
		}
	}
	return added, removed
}
