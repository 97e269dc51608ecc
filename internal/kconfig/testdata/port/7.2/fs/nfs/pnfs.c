int pnfs_layout_get(int n)
{
	return n;
}
