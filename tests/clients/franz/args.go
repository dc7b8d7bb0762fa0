package main

import (
	"flag"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Options: the flags every command takes, and parsing them.

// common holds the options every command takes.
type common struct {
	bootstrap string
	timeout   float64
	props     propList
	// connectTo, when set, is dialed for every broker (the seed too) instead of the broker's
	// address, whose host stays the TLS server name: names resolved by the test, not by DNS.
	connectTo string
}

type propList []string

func (p *propList) String() string     { return strings.Join(*p, ",") }
func (p *propList) Set(v string) error { *p = append(*p, v); return nil }

func newFlags(cmd string) (*flag.FlagSet, *common) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	c := &common{}
	fs.StringVar(&c.bootstrap, "bootstrap", "", "HOST:PORT of the broker or the proxy (required)")
	fs.Float64Var(&c.timeout, "timeout", 60, "overall deadline in seconds")
	fs.Var(&c.props, "X", "client property key=value (repeatable)")
	fs.StringVar(&c.connectTo, "connect-to", "", "HOST:PORT dialed for every broker address; with TLS the address's host stays the server name (SNI) and the name checked")
	return fs, c
}

// parse parses the command's flags, arms the deadline and returns the franz-go options that
// connect to --bootstrap with the -X security settings.
func parse(fs *flag.FlagSet, c *common, args []string) []kgo.Opt {
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		failf("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		failf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	if c.bootstrap == "" {
		failf("%s: --bootstrap is required", fs.Name())
	}
	startDeadline(c.timeout)
	opts, err := clientOpts(c)
	if err != nil {
		failf("client options: %v", err)
	}
	return opts
}
