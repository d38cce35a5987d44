package server

import (
	"strconv"

	"github.com/gofiber/fiber/v3"

	"github.com/yerp/yerp/engine/records"
)

// stockEntity is the entity whose read access lets a user see stock: whoever
// may read items may read their bins.
const stockEntity = "item"

// stock lists bins (stock per item and warehouse), read-only:
//
//	GET /api/v1/stock?item=ID&warehouse=ID&below_minimum=true
//
// Each filter is optional; below_minimum=true keeps the bins whose low-stock
// alert is raised.
func (a *api) stock(c fiber.Ctx) error {
	below := false
	if s := c.Query("below_minimum"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return problem(c, fiber.StatusBadRequest, "", []records.FieldError{{Path: "below_minimum", Code: "not_a_bool"}})
		}
		below = b
	}
	return a.bins(c, below)
}

// belowMinimum lists the bins whose available quantity fell below the item's
// minimum stock (the low-stock alert is raised): GET /api/v1/stock/below-minimum,
// optionally of one item or warehouse.
func (a *api) belowMinimum(c fiber.Ctx) error { return a.bins(c, true) }

// bins answers {"bins": [...]} for a caller who may read items.
func (a *api) bins(c fiber.Ctx, belowMinimum bool) error {
	m := a.d.Packages.Model()
	if m == nil || m.Entities[stockEntity] == nil {
		return problem(c, fiber.StatusNotFound, "", nil) // no item entity is installed
	}
	if !records.Readable(m.Entities[stockEntity], user(c)) {
		return problem(c, fiber.StatusForbidden, "", nil) // who may not read items may not read their stock
	}
	bins, err := a.d.Records.Bins(c.Context(), c.Query("item"), c.Query("warehouse"), belowMinimum)
	if err != nil {
		return fail(c, err)
	}
	if bins == nil {
		bins = []records.Bin{} // a list, never null
	}
	return c.JSON(fiber.Map{"bins": bins})
}
