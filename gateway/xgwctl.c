/* Placeholder: xgwctl lands with the policy engine. */
int main(void);
int
main(void)
{
	return 1;
}
