// Package subsets enumerates the k-subsets of participants, for the tests
// of the threshold packages that check every t-subset signs and no
// (t-1)-subset does.
package subsets

// Of returns every k-subset of 0..n-1 as ascending index lists, in
// lexicographic order.
func Of(n, k int) [][]int {
	var out [][]int
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		if len(cur) == k {
			out = append(out, append([]int(nil), cur...))
			return
		}
		for i := start; i < n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(0, nil)
	return out
}
