/* The stub's IRQ remapping. */
static int stub_irq_alloc(int irq)
{
	return irq;
}

static void stub_irq_free(int irq)
{
}

static int __init stub_irq_select(int irq,
				  int domain)
{
	return 0;
}
