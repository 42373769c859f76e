// Command latentmas is the single binary of the project: it inspects and runs
// Qwen checkpoints (logits, generate, tokenize), fetches models (pull) and
// runs the LatentMAS experiments (run, demo, bench).
//
// Every subcommand lives in its own file and registers itself in init() with
// register, so adding one never touches this file.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/pflag"
)

// command is one subcommand: `latentmas NAME ...`.
type command struct {
	name    string
	summary string                                              // one line for `latentmas help`
	run     func(args []string, stdout, stderr io.Writer) error // args exclude the command name
}

var commands = map[string]command{}

func register(c command) {
	if _, dup := commands[c.name]; dup {
		panic("latentmas: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

// errHelp means --help was asked for and printed; main exits 0.
var errHelp = errors.New("help printed")

// newFlags returns a flag set for a subcommand. Underscore and dash spellings
// are the same flag (--max_new_tokens == --max-new-tokens), so reference
// command lines run unchanged.
func newFlags(name, usage string, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, n string) pflag.NormalizedName {
		return pflag.NormalizedName(strings.ReplaceAll(n, "-", "_"))
	})
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nFlags:\n%s", usage, fs.FlagUsages())
	}
	return fs
}

// parseFlags parses args and turns --help into errHelp.
func parseFlags(fs *pflag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%s: %w (see latentmas %s --help)", fs.Name(), err, fs.Name())
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "latentmas: latent multi-agent collaboration with Qwen checkpoints, in one static binary.")
	fmt.Fprintln(w, "\nUsage: latentmas COMMAND [flags]   (latentmas COMMAND --help for details)\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// runMain is main without the process exit, for tests.
func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "latentmas: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := c.run(args[1:], stdout, stderr); err != nil {
		if errors.Is(err, errHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "latentmas %s: %v\n", c.name, err)
		return 1
	}
	return 0
}
