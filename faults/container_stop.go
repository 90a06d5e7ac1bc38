package faults

func init() {
	registerContainerFault("container-stop",
		"docker stop the server's or a worker's container (SIGTERM, a clean shutdown); start it again when healed",
		Container.Stop, Container.Start)
}
