package main

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// demoTable is one entity's demo master data as a CSV-shaped table: a header
// of field names and one row per record. The demo loader feeds it to the same
// import path users take, so the demo also exercises the importer.
type demoTable struct {
	entity string
	header []string
	rows   [][]string
}

// CSV renders the table as CSV text (fields never hold quotes or commas that
// need more than the simple quoting below).
func (t demoTable) CSV() string {
	var b strings.Builder
	write := func(cells []string) {
		for i, c := range cells {
			if i > 0 {
				b.WriteByte(',')
			}
			if strings.ContainsAny(c, ",\"\n") {
				c = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
			}
			b.WriteString(c)
		}
		b.WriteByte('\n')
	}
	write(t.header)
	for _, r := range t.rows {
		write(r)
	}
	return b.String()
}

// demoCompany is the believable Chinese wholesale company the demo loads: a
// drinks-and-groceries distributor in Zhejiang with three warehouses.
type demoCompany struct {
	warehouses []demoTable
	categories demoTable
	customers  demoTable
	suppliers  demoTable
	items      demoTable
}

var (
	demoCities    = []string{"杭州", "宁波", "温州", "绍兴", "嘉兴", "湖州", "金华", "台州", "衢州", "舟山", "丽水", "上海", "苏州"}
	demoShopWords = []string{"华联", "百佳", "万家", "鑫源", "恒泰", "惠民", "好又多", "优购", "顺发", "金桥", "联润", "大润", "乐购", "新世纪", "三江", "供销", "世纪联华", "物美", "家家福", "海港"}
	demoShopKinds = []struct{ suffix, group, terms string }{
		{"超市", "retail", "cash"},
		{"便利店", "retail", "cod"},
		{"百货有限公司", "key_account", "monthly"},
		{"批发部", "wholesale", "net_30"},
		{"商贸有限公司", "distributor", "net_60"},
		{"食品经营部", "wholesale", "net_30"},
	}
	demoSurnames = []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗"}
	demoTitles   = []string{"经理", "老板", "店长", "主任", "采购"}
	demoStreets  = []string{"解放路", "中山路", "人民路", "建设路", "文一路", "江南大道", "凤起路", "延安路", "环城北路", "学院路"}
)

// demoItemCatalog lists items per category: name, specification, unit, base
// price in yuan and the cost ratio.
var demoItemCatalog = []struct {
	code, name string
	items      []struct{ name, spec, unit string }
	price      float64
}{
	{"DRINK", "饮料", []struct{ name, spec, unit string }{
		{"矿泉水", "550ml×24", "carton"}, {"大瓶矿泉水", "1.5L×12", "carton"}, {"纯净水", "5L×4", "carton"}, {"绿茶", "500ml×15", "carton"},
		{"冰红茶", "500ml×15", "carton"}, {"橙汁", "1L×12", "carton"}, {"苏打水", "350ml×24", "carton"}, {"椰汁", "245ml×24", "carton"},
		{"乌龙茶", "500ml×15", "carton"}, {"柠檬茶", "250ml×24", "carton"}, {"功能饮料", "250ml×24", "carton"}, {"可乐", "330ml×24", "carton"},
		{"雪碧", "330ml×24", "carton"}, {"酸梅汤", "300ml×20", "carton"}, {"豆奶", "250ml×24", "carton"}, {"凉茶", "310ml×24", "carton"},
		{"咖啡饮料", "268ml×15", "carton"}, {"运动饮料", "600ml×15", "carton"},
	}, 48},
	{"SNACK", "零食", []struct{ name, spec, unit string }{
		{"苏打饼干", "400g×12", "box"}, {"薯片", "70g×24", "box"}, {"牛肉干", "100g×20", "box"}, {"瓜子", "260g×20", "box"},
		{"花生", "350g×20", "box"}, {"巧克力", "45g×48", "box"}, {"夹心饼干", "300g×12", "box"}, {"蛋卷", "250g×12", "box"},
		{"海苔", "40g×30", "box"}, {"果冻", "1kg×8", "box"}, {"话梅", "150g×30", "box"}, {"辣条", "108g×40", "box"},
		{"锅巴", "180g×24", "box"}, {"麻花", "200g×20", "box"}, {"沙琪玛", "470g×10", "box"}, {"威化饼干", "200g×24", "box"},
		{"山核桃", "200g×20", "box"}, {"豆干", "120g×40", "box"},
	}, 85},
	{"GRAIN", "粮油", []struct{ name, spec, unit string }{
		{"东北大米", "10kg", "bag"}, {"泰国香米", "5kg", "bag"}, {"面粉", "5kg", "bag"}, {"挂面", "1kg×12", "box"},
		{"菜籽油", "5L×4", "carton"}, {"花生油", "5L×4", "carton"}, {"玉米油", "5L×4", "carton"}, {"调和油", "5L×4", "carton"},
		{"生抽", "500ml×12", "carton"}, {"老抽", "500ml×12", "carton"}, {"香醋", "500ml×12", "carton"}, {"料酒", "500ml×12", "carton"},
		{"白糖", "1kg×20", "bag"}, {"食盐", "400g×40", "bag"}, {"小米", "2.5kg", "bag"}, {"糯米", "5kg", "bag"},
		{"蚝油", "700g×12", "carton"}, {"芝麻油", "400ml×12", "carton"},
	}, 95},
	{"DAILY", "日化", []struct{ name, spec, unit string }{
		{"洗衣液", "3kg×4", "carton"}, {"洗洁精", "1.5kg×8", "carton"}, {"洗发水", "750ml×12", "carton"}, {"沐浴露", "750ml×12", "carton"},
		{"牙膏", "120g×48", "carton"}, {"卷纸", "10卷×10", "bag"}, {"抽纸", "3包×20", "bag"}, {"湿巾", "80片×24", "carton"},
		{"洗衣粉", "1.5kg×8", "carton"}, {"香皂", "125g×72", "carton"}, {"垃圾袋", "50只×40", "carton"}, {"保鲜膜", "30m×24", "carton"},
		{"消毒液", "1L×12", "carton"}, {"洗手液", "500ml×12", "carton"}, {"牙刷", "3支×48", "carton"}, {"衣物柔顺剂", "2kg×6", "carton"},
	}, 120},
	{"DAIRY", "乳品", []struct{ name, spec, unit string }{
		{"纯牛奶", "250ml×24", "carton"}, {"酸奶", "200g×12", "carton"}, {"高钙奶", "250ml×24", "carton"}, {"早餐奶", "250ml×16", "carton"},
		{"乳酸菌饮品", "100ml×20", "carton"}, {"奶粉", "800g×6", "carton"}, {"儿童奶", "125ml×20", "carton"}, {"低脂牛奶", "250ml×24", "carton"},
		{"核桃奶", "240ml×20", "carton"}, {"奶酪棒", "500g×10", "carton"},
	}, 70},
	{"WINE", "酒类", []struct{ name, spec, unit string }{
		{"啤酒", "330ml×24", "carton"}, {"纯生啤酒", "500ml×12", "carton"}, {"黄酒", "500ml×12", "carton"}, {"白酒", "500ml×6", "carton"},
		{"干红葡萄酒", "750ml×6", "carton"}, {"米酒", "900g×6", "carton"}, {"梅子酒", "330ml×12", "carton"}, {"精酿啤酒", "330ml×24", "carton"},
		{"花雕酒", "600ml×12", "carton"}, {"果酒", "275ml×12", "carton"},
	}, 160},
	{"FROZEN", "冷冻食品", []struct{ name, spec, unit string }{
		{"速冻水饺", "1kg×10", "box"}, {"速冻汤圆", "500g×20", "box"}, {"速冻馄饨", "500g×16", "box"}, {"手抓饼", "900g×10", "box"},
		{"鱼丸", "2.5kg×4", "box"}, {"肉丸", "2.5kg×4", "box"}, {"冰淇淋", "75g×40", "box"}, {"雪糕", "65g×40", "box"},
		{"速冻包子", "1kg×8", "box"}, {"春卷", "500g×20", "box"}, {"鸡翅", "1kg×10", "box"}, {"虾仁", "500g×20", "box"},
	}, 110},
}

// newDemoCompany builds the demo company deterministically from seed: 3
// warehouses, 7 item categories, 60 customers, 15 suppliers and 102 items.
func newDemoCompany(seed uint64) demoCompany {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	pick := func(list []string) string { return list[r.IntN(len(list))] }
	phone := func() string {
		return fmt.Sprintf("1%d%d%04d%04d", 3+r.IntN(7), r.IntN(10), r.IntN(10000), r.IntN(10000))
	}
	person := func() string { return pick(demoSurnames) + pick(demoTitles) }
	address := func(city string) string {
		return fmt.Sprintf("%s市%s%d号", city, pick(demoStreets), 1+r.IntN(400))
	}

	var c demoCompany
	c.warehouses = []demoTable{{
		entity: "warehouse",
		header: []string{"code", "name", "address", "phone"},
		rows: [][]string{
			{"WH1", "杭州主仓", "杭州市余杭区仓前街道 88 号", "0571-8866 1001"},
			{"WH2", "宁波分仓", "宁波市鄞州区物流园 12 号", "0574-8866 2002"},
			{"WH3", "温州分仓", "温州市龙湾区滨海园区 6 号", "0577-8866 3003"},
		},
	}}

	c.categories = demoTable{entity: "item_category", header: []string{"code", "name"}}
	for _, cat := range demoItemCatalog {
		c.categories.rows = append(c.categories.rows, []string{cat.code, cat.name})
	}

	c.customers = demoTable{entity: "customer", header: []string{
		"code", "name", "customer_group", "contact_person", "phone", "address", "credit_limit", "payment_terms", "default_warehouse", "barcode",
	}}
	seen := map[string]bool{}
	for i := 1; len(c.customers.rows) < 60; i++ {
		city := pick(demoCities)
		kind := demoShopKinds[r.IntN(len(demoShopKinds))]
		name := city + pick(demoShopWords) + kind.suffix
		if seen[name] {
			continue
		}
		seen[name] = true
		credit := []string{"20000", "50000", "80000", "100000", "200000", "500000"}[r.IntN(6)]
		if kind.group == "key_account" {
			credit = "800000"
		}
		wh := "WH1"
		switch city {
		case "宁波", "舟山", "台州":
			wh = "WH2"
		case "温州", "丽水":
			wh = "WH3"
		}
		n := len(c.customers.rows) + 1
		c.customers.rows = append(c.customers.rows, []string{
			fmt.Sprintf("C-%04d", n), name, kind.group, person(), phone(), address(city), credit, kind.terms, wh,
			ean13("2", fmt.Sprintf("%011d", 10000000000+n)),
		})
	}

	c.suppliers = demoTable{entity: "supplier", header: []string{
		"code", "name", "contact_person", "phone", "address", "payment_terms", "bank_name", "bank_account", "rating",
	}}
	supplierNames := []string{
		"浙江清泉饮品厂", "杭州娃哈哈经销公司", "宁波海天调味品配送中心", "金华火腿食品有限公司", "绍兴古越龙山酒业经销部",
		"嘉兴五芳斋食品有限公司", "温州日化用品批发中心", "上海光明乳业配送站", "苏州太湖粮油有限公司", "湖州安吉竹纸业有限公司",
		"衢州山茶油合作社", "台州休闲食品厂", "舟山海产品加工厂", "丽水高山茶饮有限公司", "义乌日用百货供应链公司",
	}
	for i, name := range supplierNames {
		c.suppliers.rows = append(c.suppliers.rows, []string{
			fmt.Sprintf("S-%03d", i+1), name, person(), phone(), address(pick(demoCities)),
			[]string{"net_30", "net_60", "monthly", "cash"}[r.IntN(4)], pick([]string{"中国工商银行", "中国建设银行", "杭州银行", "宁波银行", "浙商银行"}),
			fmt.Sprintf("6222 %04d %04d %04d", r.IntN(10000), r.IntN(10000), r.IntN(10000)),
			fmt.Sprint(3 + r.IntN(3)),
		})
	}

	// The courier companies that deliver COD orders and remit what they
	// collect are suppliers too, coded K-.
	for i, name := range []string{"顺丰速运", "中通快递", "圆通速递"} {
		c.suppliers.rows = append(c.suppliers.rows, []string{
			fmt.Sprintf("K-%03d", i+1), name, person(), fmt.Sprintf("95%03d", 300+i*11), address("杭州"), "monthly", "招商银行",
			fmt.Sprintf("6225 %04d %04d %04d", r.IntN(10000), r.IntN(10000), r.IntN(10000)), "4",
		})
	}

	c.items = demoTable{entity: "item", header: []string{
		"code", "name", "specification", "unit", "category", "barcode", "price", "cost", "min_stock",
	}}
	for _, cat := range demoItemCatalog {
		for j, it := range cat.items {
			price := cat.price * (0.6 + r.Float64()*0.9)
			cost := price * (0.58 + r.Float64()*0.2)
			n := len(c.items.rows) + 1
			c.items.rows = append(c.items.rows, []string{
				fmt.Sprintf("%s-%03d", cat.code, j+1), it.name, it.spec, it.unit, cat.code,
				ean13("690", fmt.Sprintf("%09d", 123400000+n)),
				fmt.Sprintf("%.2f", price), fmt.Sprintf("%.2f", cost), fmt.Sprint(10 * (2 + r.IntN(8))),
			})
		}
	}
	return c
}

// ean13 completes a 12-digit prefix+body with its EAN-13 check digit.
func ean13(prefix, body string) string {
	digits := (prefix + body)[:12]
	sum := 0
	for i, d := range digits {
		v := int(d - '0')
		if i%2 == 1 {
			v *= 3
		}
		sum += v
	}
	return digits + fmt.Sprint((10-sum%10)%10)
}
