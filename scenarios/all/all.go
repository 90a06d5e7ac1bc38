// Package all links every scenario into the binary. Add one import line per
// new scenario package.
package all

import (
	_ "github.com/squallbench/squall/scenarios/approval"
	_ "github.com/squallbench/squall/scenarios/cansweep"
	_ "github.com/squallbench/squall/scenarios/degradation"
	_ "github.com/squallbench/squall/scenarios/entity"
	_ "github.com/squallbench/squall/scenarios/fanout"
	_ "github.com/squallbench/squall/scenarios/largestate"
	_ "github.com/squallbench/squall/scenarios/noop"
	_ "github.com/squallbench/squall/scenarios/orders"
	_ "github.com/squallbench/squall/scenarios/throttled"
	_ "github.com/squallbench/squall/scenarios/workflow"
)
