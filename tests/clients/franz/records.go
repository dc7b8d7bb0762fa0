package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Deterministic records

func key(i int) []byte { return []byte(fmt.Sprintf("k%08d", i)) }

// value(i) is "v%08d" right-padded with '.' to size bytes (no padding when size < 9).
func value(i, size int) []byte {
	s := fmt.Sprintf("v%08d", i)
	if len(s) < size {
		s += strings.Repeat(".", size-len(s))
	}
	return []byte(s)
}

// indexOf recovers i from value(i), or -1 for a value no driver writes.
func indexOf(v []byte) int {
	s := strings.TrimRight(string(v), ".")
	if !strings.HasPrefix(s, "v") {
		return -1
	}
	i, err := strconv.Atoi(s[1:])
	if err != nil {
		return -1
	}
	return i
}

// tally counts the values received; duplicates are extra copies beyond the first.
type tally struct {
	total  int
	counts map[string]int
}

func newTally() *tally { return &tally{counts: map[string]int{}} }

func (t *tally) add(v []byte) { t.total++; t.counts[string(v)]++ }

func (t *tally) distinct() int   { return len(t.counts) }
func (t *tally) duplicates() int { return t.total - len(t.counts) }

// sha256 is over the distinct values sorted bytewise, each followed by '\n'.
func (t *tally) sha256() string {
	vals := make([]string, 0, len(t.counts))
	for v := range t.counts {
		vals = append(vals, v)
	}
	sort.Strings(vals)
	h := sha256.New()
	for _, v := range vals {
		h.Write([]byte(v))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}
