package main

import (
	"fmt"
	"io"
	"os"

	"github.com/latentmas/latentmas/eval"
)

func init() {
	register(command{
		name:    "report",
		summary: "write a self-contained HTML report comparing runs",
		run:     runReport,
	})
}

func runReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", `Usage: latentmas report [--output report.html] RUN_DIR|results.jsonl...

Reads the outputs of latentmas run (results.jsonl, with summary.json and
timings.jsonl beside it) and writes one HTML file with no external assets:
accuracy per run with 95% intervals (reference and robust scorers), tokens
and time per problem, KV memory per agent, and a chart.`, stderr)
	out := fs.String("output", "report.html", "HTML file to write (- for stdout)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("give at least one run folder or results.jsonl")
	}
	var runs []*eval.ReportRun
	for _, p := range fs.Args() {
		r, err := eval.LoadReportRun(p)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	if *out == "-" {
		return eval.WriteReport(stdout, runs)
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := eval.WriteReport(f, runs); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s (%d runs)\n", *out, len(runs))
	return nil
}
