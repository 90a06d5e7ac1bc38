package faults

func init() {
	registerContainerFault("container-pause",
		"docker pause the server's or a worker's container (cgroup freeze: nothing answers, connections stay open); unpause when healed",
		Container.Pause, Container.Unpause)
}
