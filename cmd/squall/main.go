// Command squall is a load-and-chaos benchmark harness for Temporal.
package main

import "github.com/squallbench/squall/cli"

func main() { cli.Main() }
